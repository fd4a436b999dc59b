"""Ways to run the sandbox for callers that are not inside a pytest event loop."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from sandbox_helpers import HEADERS, wait_until

from photogpt_batch.sandbox import Sandbox, SandboxConfig, SandboxThread


def test_thread_runner_serves_a_synchronous_caller() -> None:
    with SandboxThread(SandboxConfig.quick()) as sb:
        request = urllib.request.Request(sb.base_url + "/ping", headers=HEADERS)
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response) == {"message": "pong!", "status": "OK"}
        assert sb.counters.requests["GET /ping"] == 1


def test_sandbox_runs_inside_a_callers_own_event_loop() -> None:
    # What `run --sandbox` does: a synchronous command starts its own loop and the sandbox lives in it.
    async def main() -> str:
        async with (
            Sandbox(SandboxConfig.quick()) as sb,
            aiohttp.ClientSession(headers=HEADERS) as session,
            session.get(sb.base_url + "/ping") as response,
        ):
            return (await response.json())["message"]

    assert asyncio.run(main()) == "pong!"


async def test_start_and_stop_without_a_context_manager() -> None:
    sb = Sandbox(SandboxConfig.quick())
    await sb.start()
    try:
        assert sb.port and sb.file_port and sb.port != sb.file_port
        assert sb.base_url == f"http://127.0.0.1:{sb.port}/api"
        assert sb.files_url == f"http://127.0.0.1:{sb.file_port}"
    finally:
        await sb.stop()
    await sb.stop()  # idempotent


async def test_busy_port_raises_instead_of_hanging() -> None:
    async with Sandbox(SandboxConfig.quick()) as first:
        with pytest.raises(OSError):
            await Sandbox(SandboxConfig.quick(), port=first.port).start()


def test_quick_preset_is_fast() -> None:
    cfg = SandboxConfig.quick()
    assert cfg.generation_seconds == (0.3, 0.8)
    assert cfg.prepare_seconds == 0.2
    assert SandboxConfig.quick(seed=5).seed == 5


BODY = {"modelID": "grok-imagine-1.5", "prompt": "p"}


def _keeping_state(state: Path) -> SandboxConfig:
    return SandboxConfig.quick(generation_seconds=(0.01, 0.02), queue_seconds=0.0, state_file=state)


async def _one_job(config: SandboxConfig) -> str:
    """Start a sandbox with ``config``, create one job, stop it; the job's id."""
    async with (Sandbox(config) as first, aiohttp.ClientSession(headers=HEADERS) as http,
                http.post(first.base_url + "/videos/generation", json=BODY) as response):
        return (await response.json())["result"]["jobId"]


async def test_a_state_file_keeps_jobs_across_restarts(tmp_path) -> None:
    state = tmp_path / "jobs.jsonl"
    config = _keeping_state(state)
    job_id = await _one_job(config)
    async with Sandbox(config) as second, aiohttp.ClientSession(headers=HEADERS) as http:

        async def finished() -> dict | None:
            async with http.get(f"{second.base_url}/jobs/{job_id}") as response:
                assert response.status == 200  # the restarted sandbox knows the job
                job = (await response.json())["result"]
            return job if job["status"] == "success" else None

        job = await wait_until(finished)
        assert len(job["videos"]) == 1
        async with http.get(f"{second.base_url}/videos/{job['videos'][0]['id']}/create-download") as response:
            assert response.status == 200
        async with http.post(second.base_url + "/videos/generation", json=BODY) as response:
            assert response.status == 200
    assert len(state.read_text().splitlines()) == 2


async def test_a_damaged_state_file_loses_only_its_damaged_lines(tmp_path) -> None:
    state = tmp_path / "jobs.jsonl"
    config = _keeping_state(state)
    job_id = await _one_job(config)
    # A stray non-UTF-8 byte on a line of its own, and a torn line at the end.
    state.write_bytes(b"\xff\xfe not json\n" + state.read_bytes() + b'{"job_id": "job_tor')
    async with (Sandbox(config) as second, aiohttp.ClientSession(headers=HEADERS) as http,
                http.get(f"{second.base_url}/jobs/{job_id}") as response):
        assert response.status == 200  # the intact line was read back
