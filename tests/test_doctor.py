"""``doctor``: each check's verdict against the sandbox and against servers built to be wrong in one way each."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from click.testing import CliRunner
from engine_helpers import fast_sandbox, load, run_config, write_campaign
from forward_proxy import ForwardProxy

from photogpt_batch.cli import cli
from photogpt_batch.doctor import Check, _check_disk, check_ledger, diagnose, healthy
from photogpt_batch.ledger import Ledger, ledger_path
from photogpt_batch.plugins import Registry, get_registry
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread

KEY = "doctor-test-key-0123456789"
NAMES = ["base-url", "proxy", "certificates", "api", "key", "api-version", "clock", "plugins", "plugin-warnings",
         "store"]


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def verdicts(checks: list[Check]) -> dict[str, str]:
    return {check.name: check.verdict for check in checks}


def env_for(base_url: str, key: str | None = KEY, **more: str) -> dict[str, str]:
    return {"PHOTOGPT_BASE_URL": base_url, **({"PHOTOGPT_API_KEY": key} if key else {}), **more}


async def diagnose_off_loop(**kwargs: Any) -> list[Check]:
    """diagnose runs its own event loop: off this test's loop, which serves the test's server."""
    return await asyncio.to_thread(diagnose, **kwargs)


# ---- against the sandbox -------------------------------------------------------------------------------


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(fast_sandbox(api_key=KEY)) as thread:
        yield thread


def test_everything_passes_against_the_sandbox(sandbox: SandboxThread) -> None:
    checks = diagnose(environ=env_for(sandbox.base_url))
    assert [c.name for c in checks] == NAMES
    assert verdicts(checks) == dict.fromkeys(NAMES, "ok"), checks
    assert healthy(checks)


def test_a_refused_key_fails_the_key_check(sandbox: SandboxThread) -> None:
    checks = by_name(diagnose(environ=env_for(sandbox.base_url, key="wrong-key-0123456789")))
    assert checks["key"].verdict == "fail" and "refused the key" in checks["key"].summary
    assert "PHOTOGPT_API_KEY" in (checks["key"].advice or "")
    assert checks["api"].verdict == "ok"  # the API was reached: only the key is wrong


def test_no_key_fails_the_key_check_and_says_what_to_do(sandbox: SandboxThread) -> None:
    check = by_name(diagnose(environ=env_for(sandbox.base_url, key=None)))["key"]
    assert (check.verdict, check.summary) == ("fail", "PHOTOGPT_API_KEY is not set")
    assert "--sandbox" in (check.advice or "")


def test_an_unreachable_api_fails_and_leaves_the_rest_unchecked(refused_port: tuple[int, Any]) -> None:
    checks = by_name(diagnose(environ=env_for(f"http://127.0.0.1:{refused_port[0]}/api")))
    assert checks["api"].verdict == "fail" and "could not connect" in checks["api"].summary
    assert "HTTPS_PROXY" in (checks["api"].advice or "")
    assert {checks[n].verdict for n in ("key", "api-version", "clock")} == {"warn"}


def test_a_malformed_base_url_fails_without_sending_anything() -> None:
    checks = by_name(diagnose(environ=env_for("ftp://example.com/api")))
    assert checks["base-url"].verdict == "fail" and "api" not in checks


# ---- servers that are wrong in one way ------------------------------------------------------------------


def ping_app(status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> web.Application:
    async def ping(request: web.Request) -> web.Response:
        return web.json_response({"message": "pong!", "status": "OK"} if body is None else body, status=status,
                                 headers=headers)

    app = web.Application()
    app.router.add_get("/api/ping", ping)
    return app


async def test_an_api_that_speaks_another_version_is_a_warning(serve) -> None:
    server = await serve(ping_app(headers={"API-Version": "2"}))
    check = by_name(await diagnose_off_loop(environ=env_for(str(server.make_url("/api")))))["api-version"]
    assert check.verdict == "warn" and "API-Version: 2" in check.summary


async def test_an_api_that_refuses_version_1_fails_the_version_check(serve) -> None:
    server = await serve(ping_app(400, {"status": "NOK", "message": "API-Version header must be 2", "err": "x"}))
    checks = by_name(await diagnose_off_loop(environ=env_for(str(server.make_url("/api")))))
    assert checks["api-version"].verdict == "fail" and "must be 2" in checks["api-version"].summary
    assert "upgrade photogpt-batch" in (checks["api-version"].advice or "")
    assert checks["key"].verdict == "warn"


async def test_a_refusal_by_a_server_still_measures_the_clock(serve) -> None:
    skewed = formatdate(time.time() - 600, usegmt=True)
    server = await serve(ping_app(401, {"status": "NOK", "message": "invalid API key"}, headers={"Date": skewed}))
    checks = by_name(await diagnose_off_loop(environ=env_for(str(server.make_url("/api")))))
    assert checks["key"].verdict == "fail"
    assert checks["clock"].verdict == "fail" and "ahead of the API's" in checks["clock"].summary
    assert "timedatectl" in (checks["clock"].advice or "")


@pytest.mark.parametrize(("skew", "verdict"), [(0, "ok"), (30, "warn"), (-900, "fail")])
async def test_the_clock_offset_against_the_servers_date_decides_the_verdict(serve, skew: int, verdict: str) -> None:
    date = formatdate(time.time() + skew, usegmt=True)
    server = await serve(ping_app(headers={"Date": date}))
    check = by_name(await diagnose_off_loop(environ=env_for(str(server.make_url("/api")))))["clock"]
    assert check.verdict == verdict, check


async def test_an_answer_without_a_date_header_is_a_warning() -> None:
    # aiohttp's server always stamps Date: a raw server on 127.0.0.1 answers without one.
    body = b'{"message":"pong!","status":"OK"}'

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        checks = by_name(await diagnose_off_loop(environ=env_for(f"http://127.0.0.1:{port}/api")))
    assert checks["api"].verdict == "ok"
    assert checks["clock"].verdict == "warn" and "no Date header" in checks["clock"].summary


async def test_a_base_url_that_is_not_the_api_fails_with_advice(serve) -> None:
    app = web.Application()
    server = await serve(app)  # every path is a 404 page
    check = by_name(await diagnose_off_loop(environ=env_for(str(server.make_url("/api")))))["api"]
    assert check.verdict == "fail" and "PHOTOGPT_BASE_URL" in (check.advice or "")


async def test_a_failing_api_says_to_try_later(serve) -> None:
    server = await serve(ping_app(503, {"status": "NOK", "message": "maintenance"}))
    check = by_name(await diagnose_off_loop(environ=env_for(str(server.make_url("/api")))))["api"]
    assert check.verdict == "fail" and "maintenance" in check.summary and "try again later" in (check.advice or "")


# ---- proxy and certificates -----------------------------------------------------------------------------


def test_doctor_reports_the_proxy_in_use(refused_port: tuple[int, Any]) -> None:
    env = env_for("https://127.0.0.1:9/api", HTTPS_PROXY=f"http://alice:pw@127.0.0.1:{refused_port[0]}",
                  NO_PROXY="internal.corp")
    checks = by_name(diagnose(environ=env))
    proxy = checks["proxy"]
    assert proxy.verdict == "ok" and f"via http://127.0.0.1:{refused_port[0]} (as alice), from HTTPS_PROXY" in \
        proxy.summary
    assert "NO_PROXY: internal.corp" in proxy.details and "pw" not in str(proxy)
    assert checks["api"].verdict == "fail"  # nothing listens at the proxy's address


@pytest.mark.parametrize(("env", "failing"), [
    ({"HTTPS_PROXY": "socks5://proxy:1080"}, "proxy"),
    ({"SSL_CERT_FILE": "/nonexistent/ca.pem"}, "certificates"),
])
def test_a_network_setting_that_cannot_work_fails_its_check(env: dict[str, str], failing: str) -> None:
    checks = by_name(diagnose(environ=env_for("https://127.0.0.1:9/api", **env)))
    assert checks[failing].verdict == "fail" and "api" not in checks


def test_an_http_api_that_a_proxy_would_carry_fails_the_proxy_check() -> None:
    checks = by_name(diagnose(environ=env_for("http://api.example.com/api", HTTP_PROXY="http://127.0.0.1:9")))
    assert checks["proxy"].verdict == "fail" and "NO_PROXY" in (checks["proxy"].advice or "")


async def test_doctor_goes_through_the_proxy_with_the_ca_it_is_given(tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    with SandboxThread(fast_sandbox(api_key=KEY), ssl_context=context) as sandbox:
        async with ForwardProxy() as proxy:
            env = env_for(sandbox.base_url, HTTPS_PROXY=proxy.url, SSL_CERT_FILE=str(tmp_path / "ca.pem"))
            checks = await diagnose_off_loop(environ=env)
    assert verdicts(checks) == dict.fromkeys(NAMES, "ok"), checks
    assert "SSL_CERT_FILE" in by_name(checks)["certificates"].summary
    assert [s.method for s in proxy.seen] == ["CONNECT"]


# ---- plugins, ledger, disk ------------------------------------------------------------------------------


def test_plugin_warnings_are_a_warning_listing_each() -> None:
    registry = Registry(models=dict(get_registry().models), warnings=["plugin 'acme' failed to load: boom"])
    checks = by_name(diagnose(sandbox=True, registry=registry))
    assert checks["plugin-warnings"].verdict == "warn"
    assert checks["plugin-warnings"].details == ("plugin 'acme' failed to load: boom",)
    assert "veo: veo-3.1, veo-3.1-fast" in checks["plugins"].details


def test_no_models_at_all_fails() -> None:
    assert by_name(diagnose(sandbox=True, registry=Registry()))["plugins"].verdict == "fail"


def test_the_ledger_check_says_where_and_how_it_is(tmp_path: Path) -> None:
    campaign = load(write_campaign(tmp_path, jobs=2))
    assert check_ledger(campaign.output).verdict == "ok"  # none yet
    with SandboxThread(fast_sandbox()) as sandbox:
        assert run_campaign(campaign, run_config(sandbox), install_signal_handlers=False).complete
    check = check_ledger(campaign.output)
    assert check.verdict == "ok" and str(ledger_path(campaign.output)) in check.summary and "2 job" in check.summary

    with Ledger.open_for_run(campaign.output):
        held = check_ledger(campaign.output)
    assert held.verdict == "warn" and f"process {os.getpid()}" in held.summary


def test_a_damaged_ledger_fails_the_ledger_check(tmp_path: Path) -> None:
    path = ledger_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database")
    check = check_ledger(tmp_path)
    assert check.verdict == "fail" and "not a photogpt-batch ledger" in check.summary
    assert path.read_bytes() == b"this is not a database"


def test_the_disk_check_compares_free_space_with_the_campaign(tmp_path: Path) -> None:
    assert _check_disk(tmp_path / "not-yet" / "out", 1).verdict == "ok"
    too_many = _check_disk(tmp_path, 10**12)
    assert too_many.verdict == "warn" and str(tmp_path) in too_many.summary


# ---- the command ------------------------------------------------------------------------------------------


def test_doctor_command_with_a_spec_checks_its_ledger_and_disk(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    result = CliRunner().invoke(cli, ["doctor", "--sandbox", "--json", str(spec)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and [c["name"] for c in report["checks"]] == [*NAMES, "ledger", "disk"]
    assert {c["verdict"] for c in report["checks"]} == {"ok"}


def test_doctor_command_exits_1_when_a_check_fails(refused_port: tuple[int, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOGPT_BASE_URL", f"http://127.0.0.1:{refused_port[0]}/api")
    monkeypatch.delenv("PHOTOGPT_API_KEY", raising=False)
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    assert "fail  key              PHOTOGPT_API_KEY is not set" in result.output
    assert "→ export PHOTOGPT_API_KEY=" in result.output


@pytest.mark.parametrize("args", [["doctor", "a.yaml", "b.yaml"], ["doctor", "--colour"], ["doctor", "missing.yaml"]])
def test_doctor_command_usage_problems_exit_2(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
