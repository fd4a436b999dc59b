"""The job poller against the sandbox: economical polling, list mode, odd statuses."""

from __future__ import annotations

import asyncio
import logging

import pytest
from engine_helpers import fast_sandbox

from photogpt_batch.client import PhotoGPTClient
from photogpt_batch.poller import JobPoller, normalise_status
from photogpt_batch.sandbox import Faults, Sandbox

BODY = {"modelID": "grok-imagine-1.5", "prompt": "p", "options": {"grok": {"duration": 2}}}


async def _watch_all(sandbox: Sandbox, n: int, **poller_args) -> tuple[list[dict], JobPoller]:
    async with PhotoGPTClient(sandbox.base_url, "k", requests_per_second=None) as client:
        ids = [await client.submit(dict(BODY, prompt=f"p{i}")) for i in range(n)]
        poller = JobPoller(client, min_interval=0.02, first_interval=0.05, **poller_args)
        task = asyncio.create_task(poller.run())
        try:
            results = await asyncio.wait_for(asyncio.gather(*(poller.watch(i) for i in ids)), timeout=30)
        finally:
            task.cancel()
        return results, poller


@pytest.mark.parametrize("raw, expected", [("SUCCESS", "success"), (" Running ", "running"), (None, "")])
def test_statuses_are_compared_case_insensitively(raw, expected) -> None:
    assert normalise_status(raw) == expected


async def test_many_jobs_are_watched_through_the_list_endpoint() -> None:
    async with Sandbox(fast_sandbox(generation_seconds=(0.2, 0.6), jobs_page_size=100)) as sandbox:
        results, poller = await _watch_all(sandbox, 40)
        assert all(normalise_status(r["status"]) == "success" for r in results)
        assert poller.stats.list_requests > 0
        # One GET /jobs/{id} per finished job for its videos; the list did the waiting.
        assert sandbox.counters.requests["GET /jobs/{id}"] <= 40 * 1.25
        per_job = (sandbox.counters.requests["GET /jobs/{id}"] + sandbox.counters.requests["GET /jobs"]) / 40
        assert per_job < 2.0


async def test_a_few_jobs_are_polled_one_by_one() -> None:
    async with Sandbox(fast_sandbox()) as sandbox:
        results, poller = await _watch_all(sandbox, 2)
        assert [normalise_status(r["status"]) for r in results] == ["success", "success"]
        assert poller.stats.list_requests == 0
        assert sandbox.counters.requests.get("GET /jobs", 0) == 0


async def test_odd_case_statuses_finish_the_watch() -> None:
    async with Sandbox(fast_sandbox(faults=Faults(odd_case_status=True))) as sandbox:
        results, _ = await _watch_all(sandbox, 6)
        assert {r["status"] for r in results} == {"SUCCESS"}


async def test_an_unknown_status_is_treated_as_not_finished_and_logged_once(caplog) -> None:
    class Api:
        calls = 0

        async def get_job(self, job_id: str) -> dict:
            Api.calls += 1
            return {"jobId": job_id, "status": "PONDERING" if Api.calls < 4 else "success", "videos": []}

        async def list_jobs(self, start=None, end=None):  # pragma: no cover - not used with one job
            return
            yield

    poller = JobPoller(Api(), min_interval=0.01, first_interval=0.01)
    task = asyncio.create_task(poller.run())
    with caplog.at_level(logging.WARNING, logger="photogpt_batch.poller"):
        result = await asyncio.wait_for(poller.watch("j1"), timeout=10)
    task.cancel()
    assert result["status"] == "success" and Api.calls == 4
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("unknown job status 'PONDERING'; treating it as not finished") == 1


async def test_a_job_unknown_to_the_server_fails_the_watch() -> None:
    from photogpt_batch.client import NotFound

    async with Sandbox(fast_sandbox()) as sandbox, PhotoGPTClient(sandbox.base_url, "k") as client:
        poller = JobPoller(client, min_interval=0.02, first_interval=0.02)
        task = asyncio.create_task(poller.run())
        with pytest.raises(NotFound):
            await asyncio.wait_for(poller.watch("job_does_not_exist"), timeout=10)
        task.cancel()


async def test_a_refused_key_while_listing_reaches_every_watcher() -> None:
    from photogpt_batch.client import AuthError

    class Api:
        async def get_job(self, job_id: str) -> dict:  # pragma: no cover - list mode only
            return {"status": "running"}

        async def list_jobs(self, start=None, end=None):
            raise AuthError("bad key", status=401)
            yield

    poller = JobPoller(Api(), min_interval=0.01, first_interval=0.01, list_threshold=2)
    task = asyncio.create_task(poller.run())
    watches = [poller.watch(f"j{i}") for i in range(3)]
    for watch in watches:
        with pytest.raises(AuthError):
            await asyncio.wait_for(watch, timeout=10)
    with pytest.raises(AuthError):
        await task
