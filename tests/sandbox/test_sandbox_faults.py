"""Every fault kind, triggered deterministically (an exact ordinal or a seeded rate)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from sandbox_helpers import MINIMAL, Api, wait_until

from photogpt_batch.sandbox import Faults, Sandbox

Make = Callable[..., Awaitable[Sandbox]]
ApiFor = Callable[[Sandbox], Api]


async def with_faults(make_sandbox: Make, api_for: ApiFor, **faults) -> Api:
    return api_for(await make_sandbox(faults=Faults(**faults)))


async def test_failed_generation_ends_failed_with_an_error(make_sandbox: Make, api_for: ApiFor) -> None:
    api = await with_faults(make_sandbox, api_for, fail_rate=1.0, fail_message="boom")
    job = await api.wait_job(await api.submit())
    assert (job["status"], job["error"]) == ("failed", "boom")


async def test_rate_limit_gets_429_with_retry_after(make_sandbox: Make, api_for: ApiFor) -> None:
    api = await with_faults(
        make_sandbox,
        api_for,
        rate_limit_nth=(1,),
        rate_limit_routes=("POST /videos/generation",),
        retry_after_seconds=3,
    )
    async with api.session.post(
        api.sandbox.base_url + "/videos/generation",
        json=MINIMAL,
        headers={"Authorization": "Bearer k", "API-Version": "1"},
    ) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "3"
        assert (await response.json())["status"] == "NOK"
    assert api.sandbox.jobs == {}
    assert (await api.post(MINIMAL))[0] == 200


async def test_server_error_gets_5xx_with_a_json_nok_body(make_sandbox: Make, api_for: ApiFor) -> None:
    api = await with_faults(make_sandbox, api_for, server_error_nth=(1,))
    status, data = await api.get("/ping")
    assert status == 500
    assert data["status"] == "NOK"
    assert (await api.get("/ping"))[0] == 200


async def test_html_error_gets_5xx_with_a_non_json_body(make_sandbox: Make, api_for: ApiFor) -> None:
    api = await with_faults(make_sandbox, api_for, html_error_nth=(1,))
    async with api.session.get(
        api.sandbox.base_url + "/ping", headers={"Authorization": "Bearer k", "API-Version": "1"}
    ) as response:
        assert response.status >= 500
        assert response.content_type == "text/html"
        assert (await response.text()).lstrip().startswith("<html>")


async def test_lost_post_as_an_error_still_creates_the_job(make_sandbox: Make, api_for: ApiFor) -> None:
    api = await with_faults(make_sandbox, api_for, lost_post_nth=(1,), lost_post_mode="error")
    status, data = await api.post(MINIMAL)
    assert status == 500 and data["status"] == "NOK"
    (job,) = api.sandbox.jobs.values()
    assert (await api.wait_job(job.job_id))["status"] == "success"


async def test_lost_post_as_a_dropped_connection_still_creates_the_job(
    make_sandbox: Make, api_for: ApiFor
) -> None:
    api = await with_faults(make_sandbox, api_for, lost_post_nth=(1,), lost_post_mode="drop")
    with pytest.raises(aiohttp.ClientError):
        await api.post(MINIMAL)
    assert len(api.sandbox.jobs) == 1
    assert api.sandbox.counters.responses["POST /videos/generation dropped"] == 1


async def test_slow_response_adds_latency(make_sandbox: Make, api_for: ApiFor) -> None:
    api = await with_faults(make_sandbox, api_for, slow_nth=(1,), slow_seconds=0.3)
    started = time.monotonic()
    assert (await api.get("/ping"))[0] == 200
    assert time.monotonic() - started >= 0.3


async def test_truncated_file_body_closes_early(make_sandbox: Make, api_for: ApiFor) -> None:
    api = await with_faults(make_sandbox, api_for, truncate_nth=(1,))
    job = await api.wait_job(await api.submit())
    url = await api.ready_url(job["videos"][0]["id"])
    async with api.session.get(url) as response:
        assert response.headers["Content-Length"] == "20000"
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    async with api.session.get(url) as response:
        assert len(await response.read()) == 20000


async def test_expired_url_is_refused_and_a_fresh_one_works(make_sandbox: Make, api_for: ApiFor) -> None:
    api = await with_faults(make_sandbox, api_for, expired_url_nth=(1,))
    job = await api.wait_job(await api.submit())
    video_id = job["videos"][0]["id"]
    expired = await api.ready_url(video_id)
    async with api.session.get(expired) as response:
        assert response.status == 403
    _, data = await api.get(f"/videos/{video_id}/download")
    async with api.session.get(data["result"]["url"]) as response:
        assert response.status == 200


async def test_download_error_ends_in_error_and_create_download_retries(
    make_sandbox: Make, api_for: ApiFor
) -> None:
    api = await with_faults(make_sandbox, api_for, download_error_nth=(1,))
    job = await api.wait_job(await api.submit())
    video_id = job["videos"][0]["id"]
    await api.get(f"/videos/{video_id}/create-download")

    async def errored() -> bool:
        _, data = await api.get(f"/videos/{video_id}/download")
        return data["result"]["status"] == "error"

    await wait_until(errored)
    assert await api.ready_url(video_id)


async def test_odd_case_statuses(make_sandbox: Make, api_for: ApiFor) -> None:
    api = await with_faults(make_sandbox, api_for, odd_case_status=True)
    _, posted = await api.post(MINIMAL)
    assert posted["result"]["status"] == "Queued"
    job = await api.wait_job(posted["result"]["jobId"])
    assert job["status"] == "SUCCESS"
    _, listed = await api.get("/jobs")
    assert listed["result"]["jobs"][0]["status"] == "SUCCESS"


async def test_seeded_rates_repeat_exactly(make_sandbox: Make, api_for: ApiFor) -> None:
    outcomes = []
    for _ in range(2):
        api = api_for(await make_sandbox(seed=7, faults=Faults(fail_rate=0.5, rate_limit_rate=0.3)))
        statuses = [(await api.post(MINIMAL | {"prompt": f"p{i}"}))[0] for i in range(30)]
        fails = [job.fails for job in api.sandbox.jobs.values()]
        outcomes.append((statuses, fails))
    assert outcomes[0] == outcomes[1]
    statuses, fails = outcomes[0]
    assert 429 in statuses and 200 in statuses
    assert True in fails and False in fails


async def test_other_seed_gives_other_faults(make_sandbox: Make, api_for: ApiFor) -> None:
    fails = []
    for seed in (1, 2):
        api = api_for(await make_sandbox(seed=seed, faults=Faults(fail_rate=0.5)))
        for i in range(30):
            await api.submit(MINIMAL | {"prompt": f"p{i}"})
        fails.append([job.fails for job in api.sandbox.jobs.values()])
    assert fails[0] != fails[1]


async def test_set_faults_at_run_time_restarts_the_ordinals(api: Api) -> None:
    assert (await api.get("/ping"))[0] == 200
    api.sandbox.set_faults(Faults(server_error_nth=(1,)))
    assert (await api.get("/ping"))[0] == 500
    assert (await api.get("/ping"))[0] == 200


def test_unknown_fault_route_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown route"):
        Faults(rate_limit_routes=("GET /nope",))


def test_rate_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match="fail_rate"):
        Faults(fail_rate=1.5)
