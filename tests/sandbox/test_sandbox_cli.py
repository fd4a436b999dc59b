"""The `sandbox` command and serve_forever: flags map to the config; the server starts, stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner
from sandbox_helpers import HEADERS

from photogpt_batch.sandbox import Sandbox, SandboxConfig, cli

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_the_flags() -> None:
    result = CliRunner().invoke(cli.sandbox_command, ["--help"])
    assert result.exit_code == 0
    for flag in (
        "--port",
        "--file-port",
        "--api-key",
        "--generation-seconds",
        "--fail-rate",
        "--odd-case-status",
    ):
        assert flag in result.output


def test_flags_become_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_serve(cfg: SandboxConfig, host: str, port: int, file_port: int) -> None:
        seen.update(cfg=cfg, host=host, port=port, file_port=file_port)

    monkeypatch.setattr(cli, "serve_forever", fake_serve)
    args = [
        "--port", "9000", "--api-key", "k", "--seed", "3", "--generation-seconds", "1,2",
        "--prepare-seconds", "0.5", "--video-bytes", "1000", "--url-ttl", "30", "--fail-rate", "0.1",
        "--lost-post-mode", "drop",
        "--fault-nth", "rate-limit=1,3", "--odd-case-status",
    ]  # fmt: skip
    result = CliRunner().invoke(cli.sandbox_command, args)
    assert result.exit_code == 0, result.output
    cfg = seen["cfg"]
    assert (seen["port"], seen["file_port"]) == (9000, 9001)
    assert (cfg.api_key, cfg.seed, cfg.generation_seconds, cfg.prepare_seconds) == ("k", 3, (1.0, 2.0), 0.5)
    assert (cfg.video_bytes, cfg.url_ttl_seconds) == (1000, 30)
    faults = cfg.faults
    assert (faults.fail_rate, faults.lost_post_mode, faults.rate_limit_nth) == (0.1, "drop", (1, 3))
    assert faults.odd_case_status


@pytest.mark.parametrize("args", [
    ["--generation-seconds", "2,1"],
    ["--generation-seconds", "nan,nan"],  # jobs would never finish
    ["--queue-seconds", "nan"],
    ["--slow-rate", "nan"],
])
def test_bad_durations_and_rates_are_usage_errors(args: list[str]) -> None:
    result = CliRunner().invoke(cli.sandbox_command, args)
    assert result.exit_code == 2, result.output


def test_unknown_fault_kind_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli.sandbox_command, ["--fault-nth", "meteor=1"])
    assert result.exit_code == 2


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_served_sandbox_prints_its_url_answers_and_stops_cleanly(stop_signal: signal.Signals) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "photogpt_batch.sandbox", "--port", "0", "--quick",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()
        assert "http://127.0.0.1:" in line
        base_url = line.split()[-1]
        async with (
            aiohttp.ClientSession() as session,
            session.get(base_url + "/ping", headers=HEADERS) as response,
        ):
            assert (await response.json())["message"] == "pong!"
        process.send_signal(stop_signal)
        out, err = await asyncio.wait_for(process.communicate(), timeout=20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    assert b"Traceback" not in err
    assert b"stopped" in out


async def test_busy_port_is_a_clear_error_not_a_traceback() -> None:
    async with Sandbox(SandboxConfig.quick()) as busy:
        args = ["--port", str(busy.port), "--file-port", "0"]
        result = await asyncio.to_thread(CliRunner().invoke, cli.sandbox_command, args)
    assert result.exit_code == 2  # a usage problem, like any bad flag
    assert "cannot serve" in result.output
    assert "Traceback" not in result.output
