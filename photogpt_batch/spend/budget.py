"""The budget gate: no POST goes out that could take the campaign's spend past its budget.

Spend is counted across all runs and versions: the credits recorded in the ledger, plus every job whose
credits are not known yet (in flight, in doubt, finished but not yet listed) at its estimate. Each submission
*reserves* its estimate here right before the intent is recorded; the check and the reservation happen
together with no await between them, so any number of concurrent submissions cannot pass the budget together.
A job's reservation is replaced by its actual credits once ``GET /jobs`` reports them (`settle`), and dropped
for a POST that provably never went out (`release`).

A job whose price class is unknown has no estimate: it is submitted alone (nothing else of its class
reserved), and counts for 0 until its credits arrive and teach the class's price to the waiting jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import BatchError
from .pricing import Estimate


class BudgetReached(BatchError):
    """The next submission would pass the budget: nothing more is submitted in this run."""


@dataclass
class _Hold:
    price_class: str
    amount: float
    unknown: bool


@dataclass
class BudgetGate:
    """Reservations against a budget of ``limit`` credits (``spent``: the credits recorded so far)."""

    limit: float
    spent: float = 0.0
    reached: bool = False
    #: Whether the run has said that the budget is reached (once).
    announced: bool = False
    _holds: dict[int, _Hold] = field(default_factory=dict)
    _changed: asyncio.Condition | None = None

    @property
    def committed(self) -> float:
        """Credits spent plus those reserved by jobs whose credits are not known yet."""
        return self.spent + sum(hold.amount for hold in self._holds.values())

    def hold(self, row: int, price_class: str, amount: float | None) -> None:
        """Count a job sent by an earlier run (in flight, in doubt, or finished without credits yet) at its
        estimate. It never makes others of its class wait: an in-doubt job may never be settled by this run."""
        self._holds[row] = _Hold(price_class, amount or 0.0, False)

    async def price_not_learned(self, row: int) -> None:
        """Job ``row`` has finished but its credits could not be learned in this run: the next job of its
        class may go alone in its turn; its reservation stays until its credits are recorded."""
        async with self._condition():
            hold = self._holds.get(row)
            if hold is not None and hold.unknown:
                hold.unknown = False
                self._condition().notify_all()

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    def _unknown_in_flight(self, price_class: str) -> bool:
        return any(h.price_class == price_class and h.unknown for h in self._holds.values())

    async def reserve(self, row: int, price_class: str, unit_estimate: Callable[[], float | None]) -> None:
        """Reserve job ``row``'s estimate before its POST; raises `BudgetReached` (and stops every later
        reservation) when it would pass the budget. ``unit_estimate`` is asked again after each wait, since
        the class's price may have been learned meanwhile."""
        changed = self._condition()
        async with changed:
            while True:
                if self.reached:
                    raise BudgetReached
                amount = unit_estimate()
                if amount is not None or not self._unknown_in_flight(price_class):
                    break
                await changed.wait()  # another job of this unknown class is out: its price is coming
            if self.committed + (amount or 0.0) > self.limit or (amount is None and self.committed >= self.limit):
                self.reached = True
                changed.notify_all()
                raise BudgetReached
            self._holds[row] = _Hold(price_class, amount or 0.0, amount is None)

    async def settle(self, row: int, credits: float) -> None:
        """Job ``row``'s actual credits are known: they replace its reservation."""
        async with self._condition():
            self._holds.pop(row, None)
            self.spent += credits
            self._condition().notify_all()

    async def release(self, row: int) -> None:
        """Job ``row`` was not sent (or created no job): its reservation goes."""
        async with self._condition():
            if self._holds.pop(row, None) is not None:
                self._condition().notify_all()

    async def learned(self) -> None:
        """A price was learned: jobs waiting on an unknown class look again."""
        async with self._condition():
            self._condition().notify_all()


@dataclass(frozen=True)
class SpendPreview:
    """What a run is about to pay for (what the question before paying shows): jobs by why they are sent,
    and their estimated cost."""

    new: int
    changed: int
    retried: int
    resubmitted: int
    estimate: Estimate

    @property
    def jobs(self) -> int:
        """How many jobs the run would submit."""
        return self.new + self.changed + self.retried + self.resubmitted

    def describe(self) -> str:
        """``42 new, 3 changed, 2 retried · ≈ 3,360 credits (36 priced from 118 past jobs, 9 unknown)``."""
        extra = "".join(f", {n} {what}" for n, what in ((self.retried, "retried"),
                                                           (self.resubmitted, "resubmitted")) if n)
        return f"{self.new} new, {self.changed} changed{extra} · {self.estimate.describe()}"


def effective_budget(flag: float | None, spec: float | None) -> float | None:
    """The budget that applies: the lower of ``--max-credits`` and the spec's ``budget.credits``."""
    given = [value for value in (flag, spec) if value is not None]
    return min(given) if given else None
