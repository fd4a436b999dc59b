"""A job's versions as the ledger records them: which version a record is, and which sent versions still have
something to come. Pure rules over `JobRecord`s, shared by the engine (which follows those versions to their end),
``status`` and the review page (which report them), so that the read side need not import the engine.

A job's *version* is its content: the first is version 1, and each change of the spec that changes the request
makes the next, in the order recorded.
"""

from __future__ import annotations

from collections.abc import Container, Iterable

from .records import JobRecord
from .states import JobState


def numbered(records: Iterable[JobRecord]) -> dict[int, int]:
    """Each job row's version: 1 for a job's first recorded content, then in the order recorded."""
    seen: dict[str, int] = {}
    numbers = {}
    for record in sorted(records, key=lambda r: r.row):
        seen[record.job_id] = numbers[record.row] = seen.get(record.job_id, 0) + 1
    return numbers


def unfinished(record: JobRecord) -> bool:
    """Whether a job version that was sent has something still to come: it is being submitted, generating or in
    doubt, or it succeeded and a video of it is not on disk yet (a failed download is fetched again)."""
    if record.state in (JobState.SUBMITTING, JobState.SUBMITTED, JobState.IN_DOUBT):
        return True
    return record.state == JobState.SUCCEEDED and not record.all_downloaded


def unfinished_earlier(current: Iterable[JobRecord], earlier: Iterable[JobRecord]) -> list[tuple[JobRecord, int]]:
    """The `unfinished` versions among ``earlier`` (versions no longer current) of ``current``'s jobs, each with
    its version number, oldest first: what a run still follows and ``status`` still reports."""
    by_id = {r.job_id: r for r in current}
    mine = [r for r in earlier if r.job_id in by_id]
    if not any(unfinished(r) for r in mine):
        return []
    numbers = numbered([*mine, *(by_id[job_id] for job_id in {r.job_id for r in mine})])
    return [(r, numbers[r.row]) for r in sorted(mine, key=lambda r: r.row) if unfinished(r)]


def unfinished_outside(current: Iterable[JobRecord], earlier: Iterable[JobRecord], held: Container[str]
                       ) -> list[tuple[JobRecord, int]]:
    """The `unfinished` versions, current or not, of the jobs whose ids are not in ``held`` (the run's jobs: those
    removed from the spec, or left out by ``--only``), each with its version number, oldest first: a run follows
    them too, since what was sent is paid for whether or not the spec still asks for it."""
    mine = [r for r in (*current, *earlier) if r.job_id not in held]
    if not any(unfinished(r) for r in mine):
        return []
    numbers = numbered(mine)  # every version of each of these jobs: its current one and the replaced ones
    return [(r, numbers[r.row]) for r in sorted(mine, key=lambda r: r.row) if unfinished(r)]
