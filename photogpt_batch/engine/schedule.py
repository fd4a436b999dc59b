"""The run's graph bookkeeping: which planned jobs are ready to send (a queue), which wait, which are blocked.

The engine starts a job's flow only when it leaves the ready queue and a generating slot is free, so a job that
waits (for its needs, or for a slot) holds an id in a queue, not an asyncio task. When a job's flow ends, the
jobs that need it are looked at again (`finished`): ready ones join the queue, blocked ones pass their block on
to the jobs that need them. Readiness itself is `readiness.job_readiness`, as ``plan`` and ``status`` say it.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from ..campaign import Campaign, Need
from ..errors import ConfigError
from ..ledger import JobRecord
from ..readiness import BLOCKED, Readiness, job_readiness


class Scheduler:
    """The ready queue and the waiting and blocked jobs of one run.

    ``needs``: the campaign's needs; ``records``: current records, of which those of the jobs another needs are
    kept (and kept up to date by `finished`): no readiness looks at the others, and a run of 20,000 jobs would
    hold them all; ``picks``: the recorded picks, read once at the start of the run.
    """

    def __init__(self, needs: Mapping[str, tuple[Need, ...]], records: Iterable[JobRecord],
                 picks: Collection[str]):
        self.needs = needs
        self.picks = frozenset(picks)
        self.dependants: dict[str, list[str]] = collections.defaultdict(list)
        for job, job_needs in needs.items():
            for need in job_needs:
                self.dependants[need.job].append(job)
        self.records = {r.job_id: r for r in records if r.job_id in self.dependants}
        #: Planned jobs whose needs are met, in spec order as they became ready: sent first come, first served.
        self.ready: collections.deque[str] = collections.deque()
        #: Planned jobs of this run whose needs are not met yet.
        self.waiting: set[str] = set()
        #: Jobs of this run found blocked, with why.
        self.blocked: dict[str, Readiness] = {}
        #: What `admit` found on the way, shared while the records stand still (cleared by `finished`): without
        #: it, admitting each job of a long chain would walk the whole chain behind it again.
        self._memo: dict[str, Readiness] = {}

    def admit(self, job_id: str) -> Readiness:
        """A planned job of this run: queued if ready, else kept as waiting or blocked. Returns its readiness."""
        found = (job_readiness(job_id, self.needs, self.records, self.picks, self._memo) if job_id in self.needs
                 else Readiness("ready"))
        if found.ready:
            self.ready.append(job_id)
        elif found.state == BLOCKED:
            self.blocked[job_id] = found
        else:
            self.waiting.add(job_id)
        return found

    def finished(self, record: JobRecord) -> tuple[list[str], list[str]]:
        """The flow of a job that others need (`has_dependants`) ended with ``record`` as its state: look again
        at the waiting jobs that need it (and, through a block, at theirs). Returns the jobs that became ready
        (already queued) and those found blocked."""
        self.records[record.job_id] = record
        self._memo.clear()  # a record changed: what was found before may not hold
        became_ready: list[str] = []
        became_blocked: list[str] = []
        look = list(self.dependants.get(record.job_id, ()))
        while look:
            job = look.pop()
            if job not in self.waiting:
                continue
            found = job_readiness(job, self.needs, self.records, self.picks)
            if found.ready:
                self.waiting.discard(job)
                self.ready.append(job)
                became_ready.append(job)
            elif found.state == BLOCKED:
                self.waiting.discard(job)
                self.blocked[job] = found
                became_blocked.append(job)
                look.extend(self.dependants.get(job, ()))
        return became_ready, became_blocked

    def has_dependants(self, job_id: str) -> bool:
        """Whether any job needs ``job_id`` (its end is worth a look at the ledger)."""
        return job_id in self.dependants


async def gather_first_error(tasks: list[asyncio.Task[Any]]) -> None:
    """Wait for every task; the first exception ends the wait (the others are cancelled and waited for) and is
    raised. Every exception is retrieved: asyncio would print the others as "never retrieved"."""
    pending = set(tasks)
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            errors = [task.exception() for task in done if not task.cancelled()]
            first = next((exc for exc in errors if exc is not None), None)
            if first is not None:
                raise first
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def refuse_unmet_left_out(campaign: Campaign, records: Callable[[], Iterable[JobRecord]]) -> None:
    """Raise `ConfigError` (exit 2, nothing sent) when ``--only`` selects a job that needs one it leaves out
    and that is not already met by an earlier run: the selected job could never be sent by this run.
    ``records`` reads the ledger's current records: only when there is a selection and needs to check."""
    if not campaign.skipped or not campaign.needs:
        return
    left_out = set(campaign.skipped)
    done = {r.job_id for r in records() if r.current and r.all_downloaded}  # an earlier version meets nothing
    unmet = [(job.id, need.job) for job in campaign.jobs for need in campaign.needs.get(job.id, ())
             if need.job in left_out and need.job not in done]
    if unmet:
        shown = "; ".join(f"{job} needs {need}" for job, need in unmet[:5]) + (
            f" and {len(unmet) - 5} more" if len(unmet) > 5 else "")
        needed = sorted({need for _, need in unmet})
        raise ConfigError(f"--only leaves out jobs that selected jobs need, and they are not done yet: {shown}. "
                          "Add them to the selection (" + " ".join(f"--only {n}" for n in needed[:3])
                          + (" ..." if len(needed) > 3 else "") + "), or run them first. Nothing was sent")
