"""``--only PATTERN``: work on part of a campaign.

A pattern is either an id glob (``social-*``, ``hero``) or an axis value (``model=veo-3.1``,
``ratio=9:16``, ``model=veo-*``): a job's axes are its model and the keys of the matrix that made it; or one
of the words ``picked`` and ``unpicked``: the jobs the picks recorded in the ledger name, or the others (the
caller reads the picks, see `needs_picks`, and passes their ids). A job is selected when any pattern matches
it. Selection happens right after loading, before planning, so everything downstream (plan, run, status, and
what a run would spend) sees only the selected jobs; the rest
are untouched and reported as skipped.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence
from fnmatch import fnmatchcase

from ..campaign import Campaign, PlannedJob
from ..errors import UsageError


class SelectionError(UsageError, ValueError):
    """A pattern matches no job of the campaign (the message suggests what might have been meant); exit 2."""


#: The two patterns that select by the picks recorded in the ledger (``review --picks``) rather than by the spec.
PICKED = "picked"
UNPICKED = "unpicked"


def needs_picks(patterns: Sequence[str]) -> bool:
    """Whether ``patterns`` use ``picked`` or ``unpicked``, so the caller must read the recorded picks."""
    return any(p in (PICKED, UNPICKED) for p in patterns)


def _axes(job: PlannedJob) -> dict[str, str]:
    return {"model": job.model, **dict(job.axes)}


def matches(job: PlannedJob, pattern: str, picked: Collection[str] = ()) -> bool:
    """Whether ``pattern`` (an id glob, ``axis=value-glob``, ``picked`` or ``unpicked``) selects ``job``;
    ``picked`` holds the ids of the recorded picks."""
    if pattern == PICKED:  # the word wins over a job named so: 'picke[d]' selects that job
        return job.id in picked
    if pattern == UNPICKED:
        return job.id not in picked
    axis, equals, value = pattern.partition("=")
    if not equals:
        return fnmatchcase(job.id, pattern)
    found = _axes(job).get(axis.strip())
    return found is not None and fnmatchcase(found, value.strip())


def select_jobs(campaign: Campaign, patterns: Sequence[str], picked: Collection[str] | None = None) -> None:
    """Keep in ``campaign.jobs`` only the jobs some pattern selects; the others' ids go to
    ``campaign.skipped``. ``picked``: the ids of the recorded picks, required when a pattern is ``picked`` or
    ``unpicked``. Raises `SelectionError` for a pattern that selects nothing (before anything changes)."""
    if not patterns:
        return
    if picked is None and needs_picks(patterns):
        raise SelectionError("--only picked/unpicked: the recorded picks were not read")
    picks = frozenset(picked or ())
    jobs = campaign.jobs
    for pattern in patterns:
        if not any(matches(job, pattern, picks) for job in jobs):
            raise SelectionError(f"--only {pattern}: no job of campaign {campaign.name!r} matches; "
                                 + _suggestion(jobs, pattern))
    campaign.jobs = [job for job in jobs if any(matches(job, p, picks) for p in patterns)]
    selected = {job.id for job in campaign.jobs}
    campaign.skipped = [job.id for job in jobs if job.id not in selected]


def _suggestion(jobs: Sequence[PlannedJob], pattern: str) -> str:
    """What the user may have meant: a close id, axis or value, else what there is to choose from."""
    if pattern == PICKED:
        return "the picks recorded in the ledger name none of its jobs (review --picks records new ones)"
    if pattern == UNPICKED:
        return "every one of its jobs is picked"
    axis, equals, value = pattern.partition("=")
    if not equals:
        close = difflib.get_close_matches(pattern, [job.id for job in jobs], n=3)
        if close:
            return "did you mean " + " or ".join(repr(c) for c in close) + "?"
        return ("give a job id or a glob such as 'social-*' (plan lists the ids), or an axis value such as "
                "'model=veo-3.1'")
    values: dict[str, set[str]] = {}
    for job in jobs:
        for name, text in _axes(job).items():
            values.setdefault(name, set()).add(text)
    axis = axis.strip()
    if axis not in values:
        close = difflib.get_close_matches(axis, list(values), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{hint}no job has an axis {axis!r}; the axes are {', '.join(sorted(values))}"
    known = sorted(values[axis])
    close = difflib.get_close_matches(value.strip(), known, n=1)
    hint = f"did you mean {axis}={close[0]}? " if close else ""
    shown = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
    return f"{hint}{axis} takes the values {shown}"
