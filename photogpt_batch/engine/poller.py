"""Watch submitted jobs until they finish, economically.

With a few jobs in flight each is polled with ``GET /jobs/{id}``. With many, one ``GET /jobs`` list request
(restricted to the time window of the jobs in flight) reports the status of all of them, and only a job that
finished successfully costs one more ``GET /jobs/{id}`` for its videos. Intervals adapt to how long jobs are
seen to take: quick jobs are polled often, long ones rarely (the vendor's samples poll every 5–8 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..client import ApiError, AuthError, BadRequest, NotFound

log = logging.getLogger(__name__)

RUNNING = frozenset({"created", "queued", "running"})
TERMINAL = frozenset({"success", "failed"})
#: The list endpoint accepts a window of at most 7 days; stay clear of the edge.
MAX_LIST_WINDOW = dt.timedelta(days=6, hours=12)
LIST_MARGIN = dt.timedelta(seconds=1)


class JobsApi(Protocol):
    """The two client calls the poller needs."""

    async def get_job(self, job_id: str) -> dict[str, Any]: ...

    def list_jobs(self, start: dt.datetime | None = None, end: dt.datetime | None = None
                  ) -> AsyncIterator[dict[str, Any]]: ...


def normalise_status(value: Any) -> str:
    """The job status in lower case ('' for a missing one): the vendor says compare case-insensitively."""
    return str(value or "").strip().lower()


@dataclass
class _Watch:
    remote_id: str
    submitted_wall: dt.datetime
    submitted_mono: float
    future: asyncio.Future[dict[str, Any]]
    next_poll: float
    unseen_scans: int = 0
    polls: int = 0


@dataclass
class PollerStats:
    """Requests the poller made, for the run summary and benchmarks."""

    job_gets: int = 0
    list_requests: int = 0
    unknown_statuses: set[str] = field(default_factory=set)


class JobPoller:
    """Resolves one future per watched job with its final ``GET /jobs/{id}`` record."""

    def __init__(self, api: JobsApi, *, min_interval: float = 0.2, max_interval: float = 8.0,
                 list_threshold: int = 4, first_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.api = api
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.list_threshold = list_threshold
        self.first_interval = first_interval
        self.clock = clock
        self.stats = PollerStats()
        self._watches: dict[str, _Watch] = {}
        self._wake = asyncio.Event()
        self._durations: float | None = None  # EWMA of submit → seen-finished, seconds
        self._clock_offset = dt.timedelta(0)  # server time − local time, learned from createdAt

    def watch(self, remote_id: str, submitted_wall: dt.datetime | None = None) -> asyncio.Future[dict[str, Any]]:
        """Start watching a job; the future resolves with its record once its status is success or failed."""
        existing = self._watches.get(remote_id)
        if existing is not None:
            return existing.future
        now = self.clock()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        wall = submitted_wall or dt.datetime.now(dt.UTC)
        idle = not self._watches
        self._watches[remote_id] = _Watch(remote_id, wall, now, future, now + self._interval())
        if idle:  # a job submitted a moment ago cannot have finished: no need to cut a wait short
            self._wake.set()
        return future

    def _interval(self) -> float:
        guess = self._durations / 6 if self._durations is not None else self.first_interval
        return min(self.max_interval, max(self.min_interval, guess))

    def _learn(self, watch: _Watch, record: dict[str, Any]) -> None:
        took = self.clock() - watch.submitted_mono
        self._durations = took if self._durations is None else 0.8 * self._durations + 0.2 * took
        created = parse_time(record.get("createdAt"))
        if created is not None and watch.polls <= 1:
            self._clock_offset = created - watch.submitted_wall

    async def run(self) -> None:
        """Poll until cancelled. If polling itself fails (a 401 on the list), every watcher gets the error
        rather than waiting forever."""
        try:
            await self._loop()
        except Exception as exc:
            for watch in list(self._watches.values()):
                self._resolve(watch, exc)
            raise

    async def _loop(self) -> None:
        while True:
            if not self._watches:
                self._wake.clear()
                await self._wake.wait()
            if len(self._watches) >= self.list_threshold:
                await self._scan_list()
                await self._poll_due(only_unseen=True)
                delay = self._interval()
            else:
                await self._poll_due(only_unseen=False)
                due = min((w.next_poll for w in self._watches.values()), default=self.clock() + self._interval())
                delay = max(0.0, due - self.clock())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _scan_list(self) -> None:
        now_wall = dt.datetime.now(dt.UTC)
        recent = [w for w in self._watches.values() if self._listable(w, now_wall)]
        if not recent:
            return
        # Local submit times shifted to the server's clock, with a small margin: every second of margin lists
        # another second's worth of other jobs, and a job the window misses is still polled on its own.
        start = min(w.submitted_wall for w in recent) + self._clock_offset - LIST_MARGIN
        end = now_wall + self._clock_offset + dt.timedelta(seconds=60)
        self.stats.list_requests += 1
        wanted = {w.remote_id for w in recent}
        seen: set[str] = set()
        finished: list[tuple[_Watch, dict[str, Any]]] = []
        try:
            async for item in self.api.list_jobs(start=start, end=end):
                remote_id = str(item.get("jobId") or "")
                if remote_id not in wanted or remote_id in seen:
                    continue
                seen.add(remote_id)
                if self._status(item) in TERMINAL:
                    finished.append((self._watches[remote_id], item))
                if len(seen) == len(wanted):
                    break  # the rest of the pages cannot tell us anything new
        except AuthError:
            raise
        except ApiError as exc:  # the per-job fallback still covers every job
            log.debug("GET /jobs failed: %r", exc)
        for w in recent:
            if w.remote_id not in seen:
                w.unseen_scans += 1
        await asyncio.gather(*(self._fetch(w, listed=item) for w, item in finished))

    @staticmethod
    def _listable(watch: _Watch, now_wall: dt.datetime) -> bool:
        """Whether ``GET /jobs`` can report this job at all: its window is at most 7 days long."""
        return now_wall - watch.submitted_wall < MAX_LIST_WINDOW

    async def _poll_due(self, only_unseen: bool) -> None:
        now = self.clock()
        now_wall = dt.datetime.now(dt.UTC)
        # In list mode, poll on its own schedule each job the list keeps missing, and also each job submitted
        # too long ago for the list window (a rerun a week later): the list never reports it, so without this
        # it would never be polled at all.
        due = [w for w in self._watches.values()
               if w.next_poll <= now
               and (not only_unseen or w.unseen_scans >= 3 or not self._listable(w, now_wall))]
        await asyncio.gather(*(self._fetch(w, final=False) for w in due))

    async def _fetch(self, watch: _Watch, final: bool = True, listed: dict[str, Any] | None = None) -> None:
        """GET one job; resolve its future when it has finished, else schedule its next poll. ``listed``: the
        job as ``GET /jobs`` listed it, whose ``credits`` (the only cost figure, absent from ``GET /jobs/{id}``)
        the record then carries."""
        self.stats.job_gets += 1
        watch.polls += 1
        try:
            record = await self.api.get_job(watch.remote_id)
        except (AuthError, NotFound, BadRequest) as exc:  # definite: the engine decides what it means
            self._resolve(watch, exc)
            return
        except ApiError as exc:  # passing trouble (retries already spent): try again later
            log.info("polling %s failed, will retry: %s", watch.remote_id, exc)
            watch.next_poll = self.clock() + self.max_interval
            return
        status = self._status(record)
        if listed is not None and "credits" not in record and "credits" in listed:
            record = {**record, "credits": listed["credits"]}
        if status in TERMINAL:
            self._learn(watch, record)
            self._resolve(watch, record)
        else:
            watch.unseen_scans = 0
            watch.next_poll = self.clock() + self._interval()

    def _resolve(self, watch: _Watch, outcome: dict[str, Any] | BaseException) -> None:
        self._watches.pop(watch.remote_id, None)
        if watch.future.done():
            return
        if isinstance(outcome, BaseException):
            watch.future.set_exception(outcome)
        else:
            watch.future.set_result(outcome)

    def _status(self, record: dict[str, Any]) -> str:
        status = normalise_status(record.get("status"))
        if status not in RUNNING and status not in TERMINAL and status not in self.stats.unknown_statuses:
            self.stats.unknown_statuses.add(status)
            log.warning("unknown job status %r; treating it as not finished", record.get("status"))
        return status


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 time from the API as an aware datetime (UTC if it has no offset), or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
