"""A run's spend: the prices it learns, the question before paying, the budget it keeps while submitting, and
the credits it learns while jobs finish (the API's only cost figure, from ``GET /jobs``)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

from ..campaign import Campaign, PlannedJob
from ..client import ApiError
from ..ledger import Disposition, JobRecord, JobState, LedgerError
from ..plugins import get_registry
from ..spend.budget import BudgetClosed, BudgetGate, BudgetReached, PriceUnknown, SpendPreview
from ..spend.pricing import PriceBook, describe_class, estimate_all, format_credits, learn_prices, price_class
from ..spend.stages import held_for_picks
from .context import RunContext
from .credits import fetch_credits
from .summary import RunSummary

log = logging.getLogger(__name__)


class RunSpend:
    """What this run pays: the rows it sent, the budget's reservations, and the credits it waits for."""

    def __init__(self, ctx: RunContext, campaign: Campaign):
        self.ctx = ctx
        self.campaign = campaign
        self.prices: PriceBook | None = None  # learned when the run starts
        self.budget: BudgetGate | None = None
        self.sent: set[int] = set()  # rows this run POSTed (or may have): its spend
        self.not_submitted_by_budget = 0
        #: Per price class that cannot be priced in this run (by its description): why, and how many of its
        #: jobs were therefore not submitted.
        self.unpriced: dict[str, tuple[str, int]] = {}
        self._credits_wanted: dict[str, tuple[int, float]] = {}  # remote id -> (row, submitted at)
        self._credits_wake = asyncio.Event()

    def learn_prices(self) -> None:
        """Learn prices from what the ledger (and, by option, the machine's other ledgers) paid."""
        self.prices = learn_prices(self.ctx.ledger, get_registry(), self.ctx.output,
                                   others=self.ctx.options.prices_from_other_ledgers)
        self.prices.stated.update(self.ctx.options.stated_prices)

    def preview(self) -> SpendPreview:
        """What the run is about to pay for, read from the ledger before anything is recorded: new and changed
        jobs, failed ones with ``retry_failed``, in-doubt ones with ``resubmit_in_doubt``, and their estimate.
        Downstream jobs that may follow in this run count (a job that needs another is sent once its need is
        met); a job that waits for a pick not recorded yet does not, as this run sends it only if it is picked
        (`spend.stages.held_for_picks`): those are counted apart."""
        ledger = self.ctx.ledger
        why: dict[str, str] = {}
        bodies: dict[str, dict[str, Any]] = {}
        for item in ledger.reconcile(self.campaign.jobs).jobs:
            assert item.planned is not None
            record = item.record
            if item.disposition == Disposition.CHANGED:
                # The spec may have gone back to an earlier version's content: that version is what counts.
                record = next((r for r in ledger.versions(item.job_id)
                               if r.content_hash == item.planned.content_hash), None)
            reason = self._reason_to_pay(record)
            if reason is not None:
                why[item.job_id] = "changed" if reason == "new" and item.disposition == Disposition.CHANGED else reason
                bodies[item.job_id] = item.planned.body
        held = held_for_picks(why.keys(), self.campaign.needs, self._picked()) if self.campaign.needs else set()
        counted = [reason for job_id, reason in why.items() if job_id not in held]
        assert self.prices is not None
        return SpendPreview(counted.count("new"), counted.count("changed"), counted.count("retried"),
                            counted.count("resubmitted"),
                            estimate_all(self.prices, (body for job_id, body in bodies.items() if job_id not in held)),
                            after_picks=len(held))

    def _picked(self) -> set[str]:
        """The ids of the picks recorded in the run's ledger (none recorded: none picked)."""
        from ..review.picks import recorded_picks

        picks = recorded_picks(self.ctx.ledger)
        return {p["job"] for p in picks["jobs"]} if picks is not None else set()

    def _reason_to_pay(self, record: JobRecord | None) -> str | None:
        """Why this run would submit the job version ``record`` (None: nothing sent yet), or None if it would not."""
        options = self.ctx.options
        if record is None or record.state == JobState.PLANNED:
            return "new"
        if record.state == JobState.FAILED and options.retry_failed:
            return "retried"
        if record.state in (JobState.IN_DOUBT, JobState.SUBMITTING) and options.resubmit_in_doubt:
            return "resubmitted"
        return None

    def open_budget(self, limit: float) -> None:
        """Open the budget gate at what the ledger holds: credits recorded (every version, every run) and
        every job sent without credits yet at its estimate. A job a killed run never sent is planned, not
        held; one that may have gone out (in doubt) is held until it is settled. An unknown class with a
        generated job whose credits the API does not report cannot be priced in this run."""
        assert self.prices is not None
        ledger = self.ctx.ledger
        gate = BudgetGate(limit)
        for record in itertools.chain(ledger.iter_jobs(), ledger.replaced()):  # a page at a time
            if record.credits is not None:
                gate.spent += record.credits
            elif record.remote_id or record.state in (JobState.IN_DOUBT, JobState.SUBMITTING):
                body = ledger.body(record.row)
                key, estimate = price_class(body, self.prices.rules), self.prices.estimate(body)
                gate.hold(record.row, key, estimate)
                if estimate is None and record.state == JobState.SUCCEEDED:
                    # Generated, and GET /jobs (just asked) has no credits for it: another job of its class
                    # would go at 0 and teach nothing more. Its class waits for its credits or a stated price.
                    gate.unpriceable.setdefault(key, "the API reports no credits yet")
        self.budget = gate

    async def reserve(self, job: PlannedJob, record: JobRecord) -> None:
        """Reserve ``job``'s estimate against the budget (if any); raises `BudgetReached` and stops submitting
        when it would pass it, `PriceUnknown` when its class cannot be priced in this run, `BudgetClosed` when
        the run is stopping (each counted here). No await comes before the hold, so concurrent submissions
        cannot pass it together."""
        budget, prices = self.budget, self.prices
        if budget is None:
            return
        assert prices is not None
        try:
            await budget.reserve(record.row, price_class(job.body, prices.rules), lambda: prices.estimate(job.body))
        except BudgetClosed:
            raise
        except PriceUnknown as exc:
            name = describe_class(exc.price_class)
            reason, count = self.unpriced.get(name, (exc.reason, 0))
            if not count:
                self.ctx.progress.note(f"budget: price unknown for {name} ({reason}); submitting no more of its "
                                       "jobs")
            self.unpriced[name] = (reason, count + 1)
            raise
        except BudgetReached:
            self.not_submitted_by_budget += 1
            if not budget.announced:
                budget.announced = True
                self.ctx.progress.note(f"budget reached: {format_credits(budget.committed)} of "
                                       f"{format_credits(budget.limit)} credits committed; submitting nothing "
                                       "more, the jobs in flight finish")
            raise

    def submission_ended(self, row: int, task: asyncio.Task[str | None]) -> None:
        """The submission of ``row`` ended (its task's done callback). Without a jobId (in doubt, cut off, or
        a failure after the POST) its credits cannot be learned in this run: if it was the one job out for an
        unknown price class, the class cannot be priced, and the jobs waiting on it are woken and refused."""
        if self.budget is None:
            return
        created = not task.cancelled() and task.exception() is None and task.result() is not None
        if not created:
            self.budget.cannot_price(row, "its first job's submission is in doubt")

    def stop(self) -> None:
        """The run is stopping: submissions waiting on the budget end now, unsent."""
        if self.budget is not None:
            self.budget.stop()

    async def release(self, row: int) -> None:
        """Drop row's reservation: it was not sent (or was refused), so nothing is billed."""
        if self.budget is not None:
            await self.budget.release(row)

    async def paid(self, row: int, body: dict[str, Any], credits: float | None, succeeded: bool) -> None:
        """A job of this run finished: its credits replace its reservation and teach its class's price; a job
        without credits yet is left for the credits watch (budgets) or the end-of-run listing."""
        if credits is None:
            if self.budget is not None:
                record = self.ctx.ledger.record(row)
                if record.remote_id:
                    self._credits_wanted[record.remote_id] = (row, record.submitted_at or time.time())
                    self._credits_wake.set()
            return
        if succeeded and self.prices is not None:
            self.prices.learn(body, credits)
        if self.budget is not None:
            await self.budget.settle(row, credits)

    async def watch_credits(self) -> None:
        """With a budget: learn the credits of finished jobs while the run goes on (one ``GET /jobs`` listing
        for all that wait), so actual credits replace estimates and unknown prices become known."""
        budget = self.budget
        assert budget is not None
        ledger, options = self.ctx.ledger, self.ctx.options
        misses: dict[str, int] = {}
        while True:
            await self._credits_wake.wait()
            self._credits_wake.clear()
            await asyncio.sleep(options.poll_min_interval)  # let a few finish together: one listing
            wanted = dict(self._credits_wanted)
            if not wanted:
                continue
            try:
                found = await fetch_credits(self.ctx.client, {rid: at for rid, (_, at) in wanted.items()})
            except ApiError as exc:
                log.info("could not list credits: %s", exc)
                found = {}
            for remote_id, (row, _) in wanted.items():
                credits = found.get(remote_id)
                if credits is not None:
                    del self._credits_wanted[remote_id]
                    try:
                        await ledger.set_credits(row, credits)
                    except LedgerError as exc:  # the jobs' own writes report a failing ledger
                        log.info("could not record credits: %s", exc)
                    record = ledger.record(row)
                    await self.paid(row, ledger.body(row), credits, record.state == JobState.SUCCEEDED)
                elif misses.setdefault(remote_id, 0) >= 3:
                    del self._credits_wanted[remote_id]  # the end-of-run listing (or a later run) tries again
                    budget.cannot_price(row, "the API reports no credits yet")
                else:
                    misses[remote_id] += 1
            if self._credits_wanted:
                await asyncio.sleep(options.poll_max_interval)
                self._credits_wake.set()

    def fill(self, summary: RunSummary) -> None:
        """Add the budget's figures to ``summary``."""
        if self.budget is not None:
            summary.budget = self.budget.limit
            summary.budget_committed = self.budget.committed
            summary.budget_not_submitted = self.not_submitted_by_budget
            summary.budget_unpriced = [(name, reason, count) for name, (reason, count) in self.unpriced.items()]
