"""Whether each job that needs others can be sent: ready, waiting (and for what) or blocked (and by what failure).

Pure: from the campaign's needs (`Campaign.needs`), the ledger's current record of each job and the recorded
picks; no I/O. The engine, ``plan``, ``status`` and the run's summary all read readiness from here.

A need is met when the needed job's current version has succeeded and every one of its videos is downloaded
(and, for ``picked: true``, the job is among the picks). A job whose needs are not all met is *waiting*, with
why (``needs draft-3 (not picked)``); a job one of whose needs failed, or is itself blocked, is *blocked*,
naming the failure at the root (``needs draft-3, which failed: <its error>``). Neither is recorded: the job
stays ``planned`` in the ledger, and both are derived again every time.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import NamedTuple

from .campaign import Need
from .ledger import JobRecord, JobState, VideoState

READY = "ready"
WAITING = "waiting"
BLOCKED = "blocked"

#: What a needed job that is not done yet is doing, as the reason a job waits for it says it.
_DOING = {
    JobState.PLANNED: "not sent yet",
    JobState.SUBMITTING: "generating",
    JobState.SUBMITTED: "generating",
    JobState.IN_DOUBT: "in doubt",
}


class Readiness(NamedTuple):
    """A job's readiness: ``state`` is READY, WAITING or BLOCKED; ``why`` says what it waits for or what blocks
    it (empty when ready); ``root`` is the failed job at the root of a block (None otherwise)."""

    state: str
    why: str = ""
    root: str | None = None

    @property
    def ready(self) -> bool:
        """Every need is met: the job can be sent."""
        return self.state == READY


_READY = Readiness(READY)


def readiness(needs: Mapping[str, tuple[Need, ...]], records: Mapping[str, JobRecord],
              picks: Collection[str]) -> dict[str, Readiness]:
    """The readiness of every job that needs anything (a job that needs nothing is always ready). ``records``:
    each job's current ledger record, by job id (a job with none counts as not sent yet); ``picks``: the ids of
    the recorded picks."""
    memo: dict[str, Readiness] = {}
    for job in needs:
        job_readiness(job, needs, records, picks, memo)
    return {job: memo[job] for job in needs}


def job_readiness(job: str, needs: Mapping[str, tuple[Need, ...]], records: Mapping[str, JobRecord],
                  picks: Collection[str], memo: dict[str, Readiness] | None = None) -> Readiness:
    """The readiness of one job (see `readiness`); ``memo`` keeps what was found for the jobs met on the way,
    for a caller asking about many jobs of the same state. Depth-first without recursion: a long chain of
    continuations does not overflow the stack."""
    memo = {} if memo is None else memo
    stack = [job]
    on_stack = {job}  # a set beside the stack: looking a job up in the stack itself made a long chain quadratic
    while stack:
        current = stack[-1]
        if current in memo:
            on_stack.discard(stack.pop())
            continue
        # The needed jobs that are not done and may be blocked themselves are settled first.
        unsettled = [n.job for n in needs.get(current, ()) if n.job not in memo and n.job in needs
                     and n.job != current and _may_be_blocked(records.get(n.job)) and n.job not in on_stack]
        if unsettled:
            stack.extend(unsettled)
            on_stack.update(unsettled)
            continue
        memo[current] = _of(current, needs.get(current, ()), records, picks, memo)
        on_stack.discard(stack.pop())
    return memo[job]


def _may_be_blocked(record: JobRecord | None) -> bool:
    """A job not sent yet is blocked when something it needs failed; one that was sent is past its needs."""
    return record is None or record.state is JobState.PLANNED


def _of(job: str, job_needs: tuple[Need, ...], records: Mapping[str, JobRecord], picks: Collection[str],
        memo: Mapping[str, Readiness]) -> Readiness:
    """One job's readiness, the readiness of the jobs it needs that are not sent yet being in ``memo``."""
    waits: list[str] = []
    for need in job_needs:
        record = records.get(need.job)
        state = record.state if record is not None else JobState.PLANNED
        upstream = memo.get(need.job, _READY)
        if state is JobState.FAILED:
            assert record is not None
            return Readiness(BLOCKED, f"needs {need.job}, which failed: {record.error or 'failed'}", need.job)
        if state is JobState.PLANNED and upstream.state == BLOCKED:
            root = upstream.root or need.job
            failure = records[root].error if root in records else None
            return Readiness(BLOCKED, f"needs {need.job}, blocked by {root}, which failed: {failure or 'failed'}",
                             root)
        if record is not None and record.all_downloaded:
            if need.picked and need.job not in picks:
                waits.append(f"needs {need.job} (not picked)")
        elif state is JobState.SUCCEEDED:
            assert record is not None
            failed = any(v.state is VideoState.FAILED for v in record.videos)
            waits.append(f"needs {need.job} ({'a download failed' if failed else 'downloading'})")
        elif state is JobState.PLANNED and upstream.state == WAITING:
            waits.append(f"needs {need.job} (waiting)")
        else:
            waits.append(f"needs {need.job} ({_DOING.get(state, str(state))})")
    return Readiness(WAITING, "; ".join(waits)) if waits else _READY
