"""The budget gate: no POST goes out that could take the campaign's spend past its budget.

Spend is counted across all runs and versions: the credits recorded in the ledger, plus every job whose
credits are not known yet (in flight, in doubt, finished but not yet listed) at its estimate. Each submission
*reserves* its estimate here right before the intent is recorded; the check and the reservation happen
together with no await between them, so any number of concurrent submissions cannot pass the budget together.
A job's reservation is replaced by its actual credits once ``GET /jobs`` reports them (`settle`), and dropped
for a POST that provably never went out (`release`).

A job whose price class is unknown has no estimate: it is submitted alone (nothing else of its class
reserved), and counts for 0 until its credits arrive and teach the class's price to the waiting jobs. When
they cannot arrive in this run (``GET /jobs`` reports no credits for it, or its submission is in doubt, or was
cut off), the class cannot be priced: the jobs of that class waiting, and those that come later, are refused
(`PriceUnknown`), never let go at 0. Every way a hold ends wakes the jobs waiting on it, and `BudgetGate.stop`
(the run is stopping) refuses every waiting and later reservation (`BudgetClosed`), so no submission waits on
the gate for ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import BatchError
from .pricing import Estimate


class BudgetReached(BatchError):
    """The budget refuses a submission, which is not sent: the next job would pass the budget (nothing more is
    submitted in this run), or one of its subclasses' reasons."""


class PriceUnknown(BudgetReached):
    """The job's price class is unknown and cannot be learned in this run: no job of the class is sent."""

    def __init__(self, price_class: str, reason: str) -> None:
        super().__init__(reason)
        self.price_class = price_class
        self.reason = reason


class BudgetClosed(BudgetReached):
    """The run is stopping: the job is not sent (it stays planned)."""


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
    #: Price classes that cannot be priced in this run, with why: none of their jobs is sent.
    unpriceable: dict[str, str] = field(default_factory=dict)
    #: The run is stopping: nothing more is reserved.
    stopped: bool = False
    _holds: dict[int, _Hold] = field(default_factory=dict)
    #: Set (and replaced) at every change that can let a waiting reservation go or refuse it.
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def committed(self) -> float:
        """Credits spent plus those reserved by jobs whose credits are not known yet."""
        return self.spent + sum(hold.amount for hold in self._holds.values())

    def hold(self, row: int, price_class: str, amount: float | None) -> None:
        """Count a job sent by an earlier run (in flight, in doubt, or finished without credits yet) at its
        estimate. It never makes others of its class wait: an in-doubt job may never be settled by this run."""
        self._holds[row] = _Hold(price_class, amount or 0.0, False)

    def cannot_price(self, row: int, reason: str) -> None:
        """Job ``row``'s credits cannot be learned in this run (``reason`` says why). If it was the one job
        out for an unknown class, that class cannot be priced: its waiting and later jobs are refused. Its
        reservation stays (it may be billed) until its credits are recorded."""
        hold = self._holds.get(row)
        if hold is not None and hold.unknown:
            hold.unknown = False
            self.unpriceable.setdefault(hold.price_class, reason)
            self._wake()

    def stop(self) -> None:
        """The run is stopping: every waiting and later reservation is refused (`BudgetClosed`)."""
        self.stopped = True
        self._wake()

    def _wake(self) -> None:
        """Let every waiting reservation look again."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _unknown_in_flight(self, price_class: str) -> bool:
        return any(h.price_class == price_class and h.unknown for h in self._holds.values())

    async def reserve(self, row: int, price_class: str, unit_estimate: Callable[[], float | None]) -> None:
        """Reserve job ``row``'s estimate before its POST; raises `BudgetReached` (and stops every later
        reservation) when it would pass the budget, `PriceUnknown` when its class cannot be priced, and
        `BudgetClosed` once the run stops. ``unit_estimate`` is asked again after each wait, since the class's
        price may have been learned meanwhile. The check and the hold happen with no await between them."""
        while True:
            if self.stopped:
                raise BudgetClosed
            if self.reached:
                raise BudgetReached
            amount = unit_estimate()
            if amount is None and price_class in self.unpriceable:
                raise PriceUnknown(price_class, self.unpriceable[price_class])
            if amount is not None or not self._unknown_in_flight(price_class):
                break
            await self._changed.wait()  # another job of this unknown class is out: its price is coming
        if self.committed + (amount or 0.0) > self.limit or (amount is None and self.committed >= self.limit):
            self.reached = True
            self._wake()
            raise BudgetReached
        self._holds[row] = _Hold(price_class, amount or 0.0, amount is None)

    async def settle(self, row: int, credits: float) -> None:
        """Job ``row``'s actual credits are known: they replace its reservation."""
        self._holds.pop(row, None)
        self.spent += credits
        self._wake()

    async def release(self, row: int) -> None:
        """Job ``row`` was not sent (or created no job): its reservation goes."""
        if self._holds.pop(row, None) is not None:
            self._wake()

    async def learned(self) -> None:
        """A price was learned: jobs waiting on an unknown class look again."""
        self._wake()


@dataclass(frozen=True)
class SpendPreview:
    """What a run is about to pay for (what the question before paying shows): jobs by why they are sent,
    and their estimated cost; ``after_picks``: jobs that wait for a pick not recorded yet, which the run may
    never send, so neither counted in ``jobs`` nor in the estimate."""

    new: int
    changed: int
    retried: int
    resubmitted: int
    estimate: Estimate
    after_picks: int = 0

    @property
    def jobs(self) -> int:
        """How many jobs the run would submit."""
        return self.new + self.changed + self.retried + self.resubmitted

    def describe(self) -> str:
        """``42 new, 3 changed, 2 retried · ≈ 3,360 credits (36 priced from 118 past jobs, 9 unknown)``, then
        ``; 12 more after picks (not counted)`` when some jobs wait for picks."""
        extra = "".join(f", {n} {what}" for n, what in ((self.retried, "retried"),
                                                           (self.resubmitted, "resubmitted")) if n)
        later = f"; {self.after_picks} more after picks (not counted)" if self.after_picks else ""
        return f"{self.new} new, {self.changed} changed{extra} · {self.estimate.describe()}{later}"


def effective_budget(flag: float | None, spec: float | None) -> float | None:
    """The budget that applies: the lower of ``--max-credits`` and the spec's ``budget.credits``."""
    given = [value for value in (flag, spec) if value is not None]
    return min(given) if given else None
