"""The PhotoGPT client against small purpose-built aiohttp servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from photogpt_batch.client import (
    ApiError,
    AuthError,
    BadRequest,
    Conflict,
    NotFound,
    OutcomeUnknown,
    PhotoGPTClient,
    ProtocolError,
    RateLimited,
    ServerError,
    TransportError,
)
from photogpt_batch.engine.fetch import fetch_file
from photogpt_batch.net.retry import RetryPolicy, parse_retry_after

KEY = "sk-test-7f3a9c-SECRET"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    method: str
    path: str
    raw_path: str
    headers: dict[str, str]
    body: bytes


def app_with(*routes: tuple[str, str, Handler]) -> tuple[web.Application, list[Seen]]:
    """An app with the given routes that records every request it receives."""
    seen: list[Seen] = []

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen.append(Seen(request.method, request.path, request.raw_path, dict(request.headers), await request.read()))
        return await handler(request)

    app = web.Application(middlewares=[record])
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    return app, seen


def ok(result: Any) -> web.Response:
    return web.json_response({"status": "OK", "result": result})


def nok(status: int, message: str | None = "nope", err: str | None = "detail", **headers: str) -> web.Response:
    body: dict[str, Any] = {"status": "NOK", "result": None}
    if message is not None:
        body["message"] = message
    if err is not None:
        body["err"] = err
    return web.json_response(body, status=status, headers=headers)


def answers(*responses: Callable[[], web.StreamResponse]) -> Handler:
    """A handler giving the responses in turn (the last one repeats)."""
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        make = responses[min(calls, len(responses) - 1)]
        calls += 1
        return make()

    return handler


class FakeSleep:
    """Records the delays the client asked for instead of waiting; can run an action on each."""

    def __init__(self, action: Callable[[], Awaitable[None]] | None = None) -> None:
        self.delays: list[float] = []
        self.action = action

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.action is not None:
            await self.action()


ClientFactory = Callable[..., Awaitable[PhotoGPTClient]]


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFactory]:
    """``await client_for(base_url, **options)``: an open client with fast retries and no rate limit."""
    clients: list[PhotoGPTClient] = []

    async def make(base: str | TestServer, **options: Any) -> PhotoGPTClient:
        url = str(base.make_url("/api")) if isinstance(base, TestServer) else base
        options.setdefault("retry", RetryPolicy(attempts=4, base=0.01, cap=0.05))
        options.setdefault("sleep", FakeSleep())
        options.setdefault("requests_per_second", None)
        options.setdefault("timeout", 5.0)
        client = PhotoGPTClient(url, options.pop("api_key", KEY), **options)
        await client.__aenter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


# ---- requests and envelopes ----------------------------------------------------------------------------


async def test_ping_sends_bearer_key_and_api_version_and_returns_message(serve, client_for) -> None:
    app, seen = app_with(("GET", "/api/ping", answers(lambda: web.json_response({"message": "pong!", "status": "OK"}))))
    api = await client_for(await serve(app))

    assert await api.ping() == "pong!"
    assert seen[0].headers["Authorization"] == f"Bearer {KEY}"
    assert seen[0].headers["API-Version"] == "1"


async def test_base_url_prefix_is_kept_with_or_without_trailing_slash(serve, client_for) -> None:
    app, seen = app_with(("GET", "/api/ping", answers(lambda: web.json_response({"status": "OK"}))))
    server = await serve(app)
    api = await client_for(str(server.make_url("/api/")))

    await api.ping()
    assert seen[0].path == "/api/ping"


async def test_submit_posts_the_body_as_json_and_returns_the_job_id(serve, client_for) -> None:
    app, seen = app_with(
        ("POST", "/api/videos/generation", answers(lambda: ok({"jobId": "job_123", "status": "queued"})))
    )
    api = await client_for(await serve(app))
    body = {"modelID": "veo-3.1", "prompt": "a cat", "options": {"veo": {"duration": 8}}}

    assert await api.submit(body) == "job_123"
    assert seen[0].headers["Content-Type"] == "application/json"
    assert json.loads(seen[0].body) == body


async def test_ok_envelope_gives_its_result(serve, client_for) -> None:
    job = {"jobId": "job_1", "status": "running", "videos": []}
    app, _ = app_with(("GET", "/api/jobs/job_1", answers(lambda: ok(job))))
    api = await client_for(await serve(app))

    assert await api.get_job("job_1") == job


async def test_nok_envelope_gives_the_servers_message_and_err(serve, client_for) -> None:
    app, _ = app_with(("GET", "/api/jobs/x", answers(lambda: nok(400, "prompt too long", "validation: prompt"))))
    api = await client_for(await serve(app))

    with pytest.raises(BadRequest) as caught:
        await api.get_job("x")
    assert (caught.value.status, caught.value.message, caught.value.err) == (
        400,
        "prompt too long",
        "validation: prompt",
    )


async def test_nok_envelope_without_message_or_err_still_gives_a_clear_error(serve, client_for) -> None:
    app, _ = app_with(("GET", "/api/jobs/x", answers(lambda: nok(404, None, None))))
    api = await client_for(await serve(app))

    with pytest.raises(NotFound) as caught:
        await api.get_job("x")
    assert "404" in str(caught.value)
    assert caught.value.err is None


async def test_nok_envelope_with_a_200_status_is_an_api_error(serve, client_for) -> None:
    app, _ = app_with(("GET", "/api/jobs/x", answers(lambda: web.json_response({"status": "NOK", "message": "no"}))))
    api = await client_for(await serve(app))

    with pytest.raises(ApiError, match="no"):
        await api.get_job("x")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequest),
        (401, AuthError),
        (404, NotFound),
        (409, Conflict),
        (429, RateLimited),
        (500, ServerError),
        (503, ServerError),
        (418, ApiError),
    ],
)
async def test_each_status_raises_its_exception(serve, client_for, status: int, error: type[ApiError]) -> None:
    app, _ = app_with(("GET", "/api/jobs/x", answers(lambda: nok(status))))
    api = await client_for(await serve(app), retry=RetryPolicy(attempts=1))

    with pytest.raises(error) as caught:
        await api.get_job("x")
    assert type(caught.value) is error
    assert caught.value.status == status


@pytest.mark.parametrize("status", [400, 401, 404, 409])
async def test_client_errors_are_not_retried(serve, client_for, status: int) -> None:
    app, seen = app_with(("GET", "/api/jobs/x", answers(lambda: nok(status))))
    api = await client_for(await serve(app))

    with pytest.raises(ApiError):
        await api.get_job("x")
    assert len(seen) == 1


async def test_non_json_5xx_body_becomes_a_server_error_keeping_a_snippet(serve, client_for) -> None:
    page = "<html><body>502 Bad Gateway</body></html>"
    app, _ = app_with(
        ("GET", "/api/jobs/x", answers(lambda: web.Response(status=502, text=page, content_type="text/html")))
    )
    api = await client_for(await serve(app), retry=RetryPolicy(attempts=1))

    with pytest.raises(ServerError) as caught:
        await api.get_job("x")
    assert caught.value.status == 502
    assert "502 Bad Gateway" in (caught.value.err or "")


@pytest.mark.parametrize(
    "body",
    [b"not json at all", b"[1, 2]", b'{"result": {"jobId": "x"}}', b'{"status": "OK", "result": "a string"}'],
    ids=["not-json", "not-object", "no-status", "result-not-object"],
)
async def test_malformed_200_raises_protocol_error(serve, client_for, body: bytes) -> None:
    app, _ = app_with(("GET", "/api/jobs/x", answers(lambda: web.Response(body=body, content_type="application/json"))))
    api = await client_for(await serve(app))

    with pytest.raises(ProtocolError):
        await api.get_job("x")


async def test_ids_are_escaped_into_a_single_path_segment(serve, client_for) -> None:
    app, seen = app_with(
        ("GET", "/api/jobs/{id}", answers(lambda: ok({}))), ("GET", "/api/{tail:.*}", answers(lambda: ok({})))
    )
    api = await client_for(await serve(app))

    await api.get_job("a/../b")
    await api.get_job("..")
    assert seen[0].raw_path == "/api/jobs/a%2F..%2Fb"
    assert seen[1].raw_path == "/api/jobs/%2E%2E"


async def test_get_download_lowercases_status_and_requires_a_url_when_ready(serve, client_for) -> None:
    app, _ = app_with(
        (
            "GET",
            "/api/videos/v1/download",
            answers(lambda: ok({"status": "READY", "url": "https://cdn.example/v1.mp4"})),
        ),
        ("GET", "/api/videos/v2/download", answers(lambda: ok({"status": "ready", "percentComplete": 100}))),
    )
    api = await client_for(await serve(app))

    assert (await api.get_download("v1"))["status"] == "ready"
    with pytest.raises(ProtocolError):
        await api.get_download("v2")


# ---- retries --------------------------------------------------------------------------------------------


async def test_get_is_retried_on_503_then_succeeds(serve, client_for) -> None:
    app, seen = app_with(
        ("GET", "/api/jobs/x", answers(lambda: nok(503), lambda: nok(503), lambda: ok({"jobId": "x"})))
    )
    sleep = FakeSleep()
    api = await client_for(await serve(app), sleep=sleep)

    assert await api.get_job("x") == {"jobId": "x"}
    assert len(seen) == 3
    assert len(sleep.delays) == 2


async def test_get_gives_up_after_the_policys_attempts(serve, client_for) -> None:
    app, seen = app_with(("GET", "/api/jobs/x", answers(lambda: nok(500))))
    api = await client_for(await serve(app), retry=RetryPolicy(attempts=3, base=0.01))

    with pytest.raises(ServerError):
        await api.get_job("x")
    assert len(seen) == 3


async def test_retry_after_seconds_is_honoured(serve, client_for) -> None:
    app, _ = app_with(("GET", "/api/jobs/x", answers(lambda: nok(429, **{"Retry-After": "7"}), lambda: ok({}))))
    sleep = FakeSleep()
    api = await client_for(await serve(app), sleep=sleep)

    await api.get_job("x")
    assert sleep.delays == [7.0]


def test_retry_after_http_date_is_converted_to_seconds() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("nan", now) is None


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    highest = RetryPolicy(base=1.0, cap=5.0, random=lambda: 1.0)
    assert [highest.delay(k) for k in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert RetryPolicy(random=lambda: 0.0).delay(3) == 0.0
    assert RetryPolicy(max_retry_after=60).delay(0, retry_after=3600) == 60


async def test_get_is_retried_after_a_timeout(serve, client_for) -> None:
    release = asyncio.Event()
    calls = 0

    async def slow_once(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release.wait()
        return ok({"jobId": "x"})

    app, seen = app_with(("GET", "/api/jobs/x", slow_once))
    api = await client_for(await serve(app), timeout=0.3)
    try:
        assert await api.get_job("x") == {"jobId": "x"}
    finally:
        release.set()
    assert len(seen) == 2


async def test_rate_limit_answers_are_reported_to_the_hook_and_counted(serve, client_for) -> None:
    app, _ = app_with(("GET", "/api/jobs/x", answers(lambda: nok(429), lambda: nok(429), lambda: ok({}))))
    reported: list[RateLimited] = []
    api = await client_for(await serve(app), on_rate_limited=reported.append)

    await api.get_job("x")
    assert api.rate_limited_count == 2
    assert [e.status for e in reported] == [429, 429]


# ---- the submission is never resent unless provably unsent ----------------------------------------------


async def test_post_is_not_resent_on_5xx(serve, client_for) -> None:
    app, seen = app_with(("POST", "/api/videos/generation", answers(lambda: nok(503, "overloaded", "e1"))))
    api = await client_for(await serve(app))

    with pytest.raises(OutcomeUnknown) as caught:
        await api.submit({"modelID": "veo-3.1", "prompt": "x"})
    assert len(seen) == 1
    assert (caught.value.status, caught.value.err) == (503, "e1")


async def test_post_is_not_resent_after_a_timeout(serve, client_for) -> None:
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return ok({"jobId": "late"})

    app, seen = app_with(("POST", "/api/videos/generation", hang))
    api = await client_for(await serve(app), timeout=0.3)
    try:
        with pytest.raises(OutcomeUnknown):
            await api.submit({"modelID": "veo-3.1", "prompt": "x"})
    finally:
        release.set()
    assert len(seen) == 1


async def test_post_is_not_resent_when_the_connection_drops(serve, client_for) -> None:
    async def drop(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    app, seen = app_with(("POST", "/api/videos/generation", drop))
    api = await client_for(await serve(app))

    with pytest.raises(OutcomeUnknown):
        await api.submit({"modelID": "veo-3.1", "prompt": "x"})
    assert len(seen) == 1


async def test_post_answered_without_a_job_id_is_outcome_unknown(serve, client_for) -> None:
    app, seen = app_with(("POST", "/api/videos/generation", answers(lambda: ok({"status": "queued"}))))
    api = await client_for(await serve(app))

    with pytest.raises(OutcomeUnknown):
        await api.submit({"modelID": "veo-3.1", "prompt": "x"})
    assert len(seen) == 1


async def test_post_is_retried_after_429(serve, client_for) -> None:
    app, seen = app_with(
        (
            "POST",
            "/api/videos/generation",
            answers(lambda: nok(429, **{"Retry-After": "2"}), lambda: ok({"jobId": "j"})),
        )
    )
    sleep = FakeSleep()
    api = await client_for(await serve(app), sleep=sleep)

    assert await api.submit({"modelID": "veo-3.1", "prompt": "x"}) == "j"
    assert len(seen) == 2
    assert sleep.delays == [2.0]


async def test_post_is_retried_after_connection_refused(serve, client_for, refused_port) -> None:
    port, reserved = refused_port
    app, seen = app_with(("POST", "/api/videos/generation", answers(lambda: ok({"jobId": "j"}))))

    async def start_listening() -> None:
        # The first attempt found nobody listening; the server comes up before the retry.
        if not seen and reserved.fileno() != -1:
            reserved.close()
            await serve(app, port=port)

    api = await client_for(f"http://127.0.0.1:{port}/api", sleep=FakeSleep(start_listening))

    assert await api.submit({"modelID": "veo-3.1", "prompt": "x"}) == "j"
    assert len(seen) == 1


async def test_a_post_whose_connection_never_opened_in_time_is_known_unsent(client_for) -> None:
    # A listener whose backlog is full: the kernel leaves further connection attempts hanging.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = [socket.socket() for _ in range(3)]
    for filler in fillers:
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
    try:
        api = await client_for(f"http://127.0.0.1:{port}/api", connect_timeout=0.2, retry=RetryPolicy(attempts=1))
        with pytest.raises(TransportError):
            await api.submit({"modelID": "veo-3.1", "prompt": "x"})
    finally:
        for sock in (*fillers, listener):
            sock.close()


async def test_connection_refused_after_all_attempts_is_a_transport_error(client_for, refused_port) -> None:
    port, _ = refused_port
    api = await client_for(f"http://127.0.0.1:{port}/api", retry=RetryPolicy(attempts=2, base=0.01))

    with pytest.raises(TransportError):
        await api.submit({"modelID": "veo-3.1", "prompt": "x"})


async def test_a_retry_warning_names_the_request_once(client_for, refused_port, caplog) -> None:
    port, _ = refused_port
    api = await client_for(f"http://127.0.0.1:{port}/api", retry=RetryPolicy(attempts=2, base=0.01))

    with caplog.at_level("WARNING", logger="photogpt_batch.client"), pytest.raises(TransportError):
        await api.ping()
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("GET /api/ping: could not connect: ") and line.count("GET /api/ping") == 1


async def test_a_retry_warning_for_a_server_message_still_names_the_request(serve, client_for, caplog) -> None:
    app, _ = app_with(("GET", "/api/ping", answers(
        lambda: web.json_response({"status": "NOK", "message": "busy"}, status=503),
        lambda: web.json_response({"message": "pong!", "status": "OK"}))))
    api = await client_for(await serve(app))

    with caplog.at_level("WARNING", logger="photogpt_batch.client"):
        await api.ping()
    assert [r.getMessage().split(";")[0] for r in caplog.records] == ["GET /api/ping: busy (HTTP 503)"]


# ---- the key stays with the API -------------------------------------------------------------------------


async def test_authorization_goes_to_the_api_origin_only(serve, client_for, tmp_path: Path) -> None:
    api_app, api_seen = app_with(("GET", "/api/ping", answers(lambda: web.json_response({"status": "OK"}))))
    files_app, file_seen = app_with(("GET", "/v.mp4", answers(lambda: web.Response(body=b"video"))))
    api = await client_for(await serve(api_app))
    files = await serve(files_app)

    await api.ping()
    await fetch_file(api.session, str(files.make_url("/v.mp4")), tmp_path / "v.mp4", read_timeout=5)

    assert api_seen[0].headers["Authorization"] == f"Bearer {KEY}"
    assert "Authorization" not in file_seen[0].headers
    assert "Authorization" not in api.session.headers


async def test_a_redirect_to_another_origin_is_not_followed(serve, client_for) -> None:
    other_app, other_seen = app_with(("GET", "/api/ping", answers(lambda: web.json_response({"status": "OK"}))))
    other = await serve(other_app)
    api_app, _ = app_with(
        (
            "GET",
            "/api/ping",
            answers(lambda: web.Response(status=302, headers={"Location": str(other.make_url("/api/ping"))})),
        )
    )
    api = await client_for(await serve(api_app))

    with pytest.raises(ProtocolError, match="redirect"):
        await api.ping()
    assert other_seen == []


async def test_no_authorization_without_a_key(serve, client_for) -> None:
    app, seen = app_with(("GET", "/api/ping", answers(lambda: web.json_response({"status": "OK"}))))
    api = await client_for(await serve(app), api_key=None)

    await api.ping()
    assert "Authorization" not in seen[0].headers


async def test_the_key_never_appears_in_an_exception(serve, client_for) -> None:
    async def echo_key(request: web.Request) -> web.Response:
        # A careless server (or proxy) that echoes the request's credentials back.
        return nok(401, f"bad key: {request.headers['Authorization']}", f"got {request.headers['Authorization']}")

    app, _ = app_with(("GET", "/api/ping", echo_key))
    api = await client_for(await serve(app))

    with pytest.raises(AuthError) as caught:
        await api.ping()
    text = str(caught.value) + repr(caught.value) + "".join(traceback.format_exception(caught.value))
    assert KEY not in text
    assert KEY not in repr(api)


async def test_list_jobs_follows_next_page_token(serve, client_for) -> None:
    pages = {
        None: {"jobs": [{"jobId": "a"}, {"jobId": "b"}], "nextPageToken": "p2"},
        "p2": {"jobs": [{"jobId": "c"}], "nextPageToken": "p3"},
        "p3": {"jobs": [{"jobId": "d"}], "nextPageToken": None},
    }

    async def page(request: web.Request) -> web.Response:
        return ok(pages[request.query.get("pageToken")])

    app, seen = app_with(("GET", "/api/jobs", page))
    api = await client_for(await serve(app))
    start = datetime(2025, 1, 1, tzinfo=UTC)

    jobs = [job["jobId"] async for job in api.list_jobs(start=start, end="2025-01-02T00:00:00Z")]
    assert jobs == ["a", "b", "c", "d"]
    assert len(seen) == 3
    assert "start=2025-01-01T00:00:00Z" in seen[0].raw_path.replace("%3A", ":")


async def test_list_jobs_refuses_a_repeated_page_token(serve, client_for) -> None:
    app, _ = app_with(("GET", "/api/jobs", answers(lambda: ok({"jobs": [], "nextPageToken": "same"}))))
    api = await client_for(await serve(app))

    with pytest.raises(ProtocolError, match="repeated"):
        [job async for job in api.list_jobs()]


def test_the_server_clock_offset_comes_from_the_date_header() -> None:
    from photogpt_batch.client.envelope import clock_offset

    now = 1_800_000_000.25
    assert clock_offset("Fri, 15 Jan 2027 08:00:00 GMT", now) == pytest.approx(0.25)  # whole seconds, truncated
    assert clock_offset(None, now) is None
    assert clock_offset("not a date", now) is None


async def test_ping_measures_how_far_the_servers_clock_is_from_ours() -> None:
    from photogpt_batch.sandbox import Sandbox, SandboxConfig

    async with Sandbox(SandboxConfig.quick(clock=lambda: time.time() - 600)) as sandbox, \
            PhotoGPTClient(sandbox.base_url, "k") as client:
        assert client.server_clock_offset is None
        await client.ping()
        assert client.server_clock_offset == pytest.approx(-600, abs=2)


@pytest.mark.parametrize("key", ["k", "abc1"])
async def test_a_short_key_is_scrubbed_where_it_stands_alone_not_inside_words(serve, client_for, key: str) -> None:
    async def echo_key(request: web.Request) -> web.Response:
        return nok(401, f"unknown key {request.headers['Authorization'].split()[1]}, not known here", "x")

    app, _ = app_with(("GET", "/api/ping", echo_key))
    api = await client_for(await serve(app), api_key=key)
    with pytest.raises(AuthError) as caught:
        await api.ping()
    assert "unknown key <api key>, not known here" in str(caught.value)
