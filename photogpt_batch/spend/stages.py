"""A campaign's stages: the jobs a run would send, grouped by their depth in the needs graph, with what each
stage would cost, and which jobs wait for a pick that is not recorded yet (and so may never be sent).

Stage 1 holds the jobs that need nothing; stage k the jobs whose deepest need is in stage k-1. A job's stage is
its place in the graph, whatever is already done: when the drafts are all generated, the finals still to send
are stage 2. Pure functions over the campaign's ``needs`` (`campaign.Need`), the recorded picks and a price book:
``plan`` shows the stages, and the question before paying counts only what may follow in this run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..campaign import Need, PlannedJob
from .pricing import Estimate, PriceBook, estimate_all, format_credits


@dataclass(frozen=True)
class Stage:
    """One stage of the jobs a run would send: its number (depth in the needs graph, from 1), how many jobs,
    how many of them wait for a pick not recorded yet, and the estimate of all of them (the most it may cost)."""

    number: int
    jobs: int
    after_picks: int
    estimate: Estimate

    def describe(self) -> str:
        """``stage 1: 12 jobs ≈ 72 credits``, ``stage 2: up to 12 jobs ≈ 960 credits (after picks)``; a stage
        with unknown prices says how many (``≈ 60 credits, 2 unknown``; ``price unknown`` when none is priced)."""
        count = f"{'up to ' if self.after_picks else ''}{self.jobs} job{'s' * (self.jobs != 1)}"
        estimate = self.estimate
        if estimate.priced:
            cost = f" ≈ {format_credits(estimate.credits)} credits"
            cost += f", {estimate.unknown} unknown" if estimate.unknown else ""
        else:
            cost = ", price unknown"
        return f"stage {self.number}: {count}{cost}{' (after picks)' if self.after_picks else ''}"

    def to_json(self) -> dict[str, Any]:
        """``{stage, jobs, afterPicks, estimate: {credits, priced, unknown}}`` as ``plan --json`` prints it."""
        return {"stage": self.number, "jobs": self.jobs, "afterPicks": self.after_picks,
                "estimate": self.estimate.to_json()}


def _order(needs: Mapping[str, tuple[Need, ...]]) -> list[str]:
    """The jobs that need something, each after the jobs it needs that need something too (the graph is
    checked for cycles at load; a job left in one anyway comes last, so nothing loops). Iterative: a long
    chain of continuations must not reach Python's recursion limit."""
    waiting = {job: {n.job for n in wanted if n.job in needs and n.job != job} for job, wanted in needs.items()}
    needed_by: dict[str, list[str]] = {}
    for job, upstream in waiting.items():
        for other in upstream:
            needed_by.setdefault(other, []).append(job)
    ready = [job for job, upstream in waiting.items() if not upstream]
    order: list[str] = []
    while ready:
        job = ready.pop()
        order.append(job)
        for after in needed_by.get(job, ()):
            waiting[after].discard(job)
            if not waiting[after]:
                ready.append(after)
    placed = set(order)
    return order + [job for job in needs if job not in placed]


def depths(needs: Mapping[str, tuple[Need, ...]]) -> dict[str, int]:
    """Each job's stage number in the needs graph, for the jobs that need something (a job absent is stage 1):
    one more than its deepest need's."""
    depth: dict[str, int] = {}
    for job in _order(needs):
        depth[job] = 1 + max((depth.get(n.job, 1) for n in needs[job] if n.job != job), default=1)
    return depth


def held_for_picks(to_send: Collection[str], needs: Mapping[str, tuple[Need, ...]],
                   picked: Collection[str]) -> set[str]:
    """The jobs of ``to_send`` that wait for a pick not recorded yet, so may never be sent: a job with a
    ``picked`` need whose job is not in ``picked``, or a need on such a job (directly or further up). A job not
    to send (done, in flight) holds nothing back: what needs it waits only for its own needs."""
    held: set[str] = set()
    for job in _order(needs):
        if job in to_send and any((n.picked and n.job not in picked) or n.job in held for n in needs[job]):
            held.add(job)
    return held


def make_stages(jobs: Iterable[PlannedJob], needs: Mapping[str, tuple[Need, ...]], picked: Collection[str],
                book: PriceBook) -> list[Stage]:
    """The stages of ``jobs`` (those a run would send, in spec order), by depth in ``needs``, each with its
    estimate from ``book`` and how many of its jobs wait for a pick not in ``picked``. Stages with nothing to
    send are left out; the others keep their numbers."""
    sending = list(jobs)
    depth = depths(needs)
    held = held_for_picks({job.id for job in sending}, needs, picked)
    grouped: dict[int, list[PlannedJob]] = {}
    for job in sending:
        grouped.setdefault(depth.get(job.id, 1), []).append(job)
    return [Stage(number, len(group), sum(job.id in held for job in group),
                  estimate_all(book, (job.body for job in group)))
            for number, group in sorted(grouped.items())]
