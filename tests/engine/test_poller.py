"""The job poller against the sandbox: economical polling, list mode, odd statuses."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import pytest
from engine_helpers import fast_sandbox

from photogpt_batch.client import PhotoGPTClient
from photogpt_batch.engine.poller import JobPoller, normalise_status
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
    with caplog.at_level(logging.WARNING, logger="photogpt_batch.engine.poller"):
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


class _FakeJobsApi:
    """Jobs that report ``running`` a few times, then ``success``; ``GET /jobs`` honours its window (<= 7 days)."""

    def __init__(self, created: dict[str, dt.datetime], running_polls: int = 2, held: frozenset[str] = frozenset()):
        self.created = created
        self.running_polls = running_polls
        self.held = held  # these keep running until every other job has reported success
        self.finished: set[str] = set()
        self.gets: dict[str, int] = {job_id: 0 for job_id in created}
        self.listed: dict[str, int] = {job_id: 0 for job_id in created}
        self.windows: list[tuple[dt.datetime, dt.datetime]] = []

    def _record(self, job_id: str) -> dict:
        seen = self.gets[job_id] + self.listed[job_id]  # progress shows however the job is looked at
        waiting = job_id in self.held and any(j not in self.finished for j in self.created if j not in self.held)
        status = "running" if seen <= self.running_polls or waiting else "success"
        if status == "success":
            self.finished.add(job_id)
        return {"jobId": job_id, "status": status, "createdAt": self.created[job_id].isoformat(), "videos": []}

    async def get_job(self, job_id: str) -> dict:
        self.gets[job_id] += 1
        return self._record(job_id)

    async def list_jobs(self, start=None, end=None):
        assert end - start <= dt.timedelta(days=7), "the list endpoint refuses a window over 7 days"
        self.windows.append((start, end))
        for job_id, created in self.created.items():
            if start <= created <= end:
                self.listed[job_id] += 1
                yield self._record(job_id)


async def _resolve_all(api: _FakeJobsApi) -> tuple[list[dict], JobPoller]:
    poller = JobPoller(api, min_interval=0.01, max_interval=0.05, first_interval=0.01, list_threshold=4)
    task = asyncio.create_task(poller.run())
    try:
        watches = [poller.watch(job_id, created) for job_id, created in api.created.items()]
        results = await asyncio.wait_for(asyncio.gather(*watches), timeout=10)
    finally:
        task.cancel()
    return results, poller


async def test_many_jobs_older_than_the_list_window_are_polled_one_by_one() -> None:
    # A rerun a week later: the list endpoint cannot cover these jobs, so each must be polled on its own.
    week_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
    api = _FakeJobsApi({f"old{i}": week_ago + dt.timedelta(minutes=i) for i in range(5)})
    results, poller = await _resolve_all(api)
    assert [r["status"] for r in results] == ["success"] * 5
    assert api.windows == [] and poller.stats.list_requests == 0
    assert api.gets == {job_id: 3 for job_id in api.created}  # two `running` polls, then the final one


async def test_old_jobs_are_polled_one_by_one_while_recent_ones_use_the_list() -> None:
    now = dt.datetime.now(dt.UTC)
    old = {f"old{i}": now - dt.timedelta(days=8, minutes=i) for i in range(2)}
    recent = {f"new{i}": now - dt.timedelta(seconds=i) for i in range(4)}
    # The recent jobs outlast the old ones, so the poller stays in list mode (4+ jobs) until the old ones finish.
    api = _FakeJobsApi(old | recent, held=frozenset(recent))
    results, poller = await _resolve_all(api)
    assert {r["status"] for r in results} == {"success"}
    assert poller.stats.list_requests > 0
    # The list reported the recent jobs' progress: one GET /jobs/{id} each, for the finished record.
    assert {job_id: api.gets[job_id] for job_id in recent} == {job_id: 1 for job_id in recent}
    assert all(api.listed[job_id] >= 3 for job_id in recent)
    # The old jobs were never in a list window, and were polled until they finished.
    assert all(api.listed[job_id] == 0 for job_id in old)
    assert all(start > max(old.values()) for start, _ in api.windows)
    assert {job_id: api.gets[job_id] for job_id in old} == {job_id: 3 for job_id in old}
