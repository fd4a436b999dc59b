"""The API origin requires a bearer key and API-Version: 1; admin routes need neither."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
from sandbox_helpers import Api

from photogpt_batch.sandbox import Sandbox


async def test_ping_answers_pong(api: Api) -> None:
    status, data = await api.get("/ping")
    assert status == 200
    assert data == {"message": "pong!", "status": "OK"}


async def test_missing_authorization_gets_401_nok(api: Api) -> None:
    status, data = await api.get("/ping", headers={"API-Version": "1"})
    assert status == 401
    assert data["status"] == "NOK" and data["result"] is None and data["message"]


async def test_non_bearer_authorization_gets_401(api: Api) -> None:
    status, _ = await api.get("/ping", headers={"Authorization": "Basic dXNlcjpwYXNz", "API-Version": "1"})
    assert status == 401


async def test_empty_bearer_key_gets_401(api: Api) -> None:
    status, _ = await api.get("/ping", headers={"Authorization": "Bearer ", "API-Version": "1"})
    assert status == 401


async def test_any_non_empty_key_works_by_default(api: Api) -> None:
    status, _ = await api.get("/ping", headers={"Authorization": "Bearer whatever", "API-Version": "1"})
    assert status == 200


async def test_configured_api_key_rejects_other_keys(
    make_sandbox: Callable[..., Awaitable[Sandbox]], api_for: Callable[[Sandbox], Api]
) -> None:
    api = api_for(await make_sandbox(api_key="s3cret"))
    wrong, _ = await api.get("/ping", headers={"Authorization": "Bearer other", "API-Version": "1"})
    right, _ = await api.get("/ping", headers={"Authorization": "Bearer s3cret", "API-Version": "1"})
    assert (wrong, right) == (401, 200)


async def test_missing_api_version_gets_400_nok(api: Api) -> None:
    status, data = await api.get("/ping", headers={"Authorization": "Bearer k"})
    assert status == 400
    assert data["status"] == "NOK"
    assert "API-Version" in data["message"]


async def test_other_api_version_gets_400(api: Api) -> None:
    status, _ = await api.get("/ping", headers={"Authorization": "Bearer k", "API-Version": "2"})
    assert status == 400


async def test_post_without_key_creates_no_job(api: Api) -> None:
    status, _ = await api.post({"modelID": "veo-3.1", "prompt": "p"}, headers={"API-Version": "1"})
    assert status == 401
    assert api.sandbox.jobs == {}


async def test_unknown_api_route_gets_404_nok(api: Api) -> None:
    status, data = await api.get("/nothing/here")
    assert status == 404
    assert data["status"] == "NOK"


async def test_admin_counters_need_no_auth(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    async with session.get(sandbox.base_url.removesuffix("/api") + "/_sandbox/counters") as response:
        assert response.status == 200
        assert "requests" in await response.json()
