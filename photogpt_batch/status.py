"""The ledger's view of a campaign, read-only: what ``status`` and ``plan`` show."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .engine.versions import numbered, unfinished, unfinished_outside
from .errors import StatusError as StatusError  # re-exported: callers catch it from here too
from .jobs import Campaign
from .ledger import Disposition, JobRecord, JobState, Ledger, LedgerError, LockHolder, Reconciliation


@dataclass
class CreditTotals:
    """What a campaign paid: per model (credits, jobs priced, sent jobs without credits yet) and in total."""

    per_model: dict[str, tuple[float, int, int]] = field(default_factory=dict)

    def add(self, record: JobRecord) -> None:
        """Count one job version (one not sent counts nowhere)."""
        credits, priced, pending = self.per_model.get(record.model, (0.0, 0, 0))
        if record.credits is not None:
            self.per_model[record.model] = (credits + record.credits, priced + 1, pending)
        elif record.remote_id or record.state == JobState.IN_DOUBT:
            self.per_model[record.model] = (credits, priced, pending + 1)

    @property
    def total(self) -> tuple[float, int, int]:
        """(credits, jobs priced, sent jobs without credits yet) over every model."""
        rows = self.per_model.values()
        return sum(r[0] for r in rows), sum(r[1] for r in rows), sum(r[2] for r in rows)


@dataclass
class LedgerWhere:
    """Where a campaign's ledger is (its file, or the shared database without password) and who holds its lock."""

    location: str
    shared: bool
    lock: LockHolder | None = None

    def to_json(self) -> dict[str, Any]:
        """As JSON: ``location``, ``shared``, ``lock`` (the holder, or null)."""
        return {"location": self.location, "shared": self.shared,
                "lock": self.lock.to_json() if self.lock else None}

    def describe(self) -> str:
        """One line for text output."""
        kind = "shared ledger" if self.shared else "ledger"
        held = f"; locked by {self.lock.describe()}" if self.lock else ""
        return f"{kind} {self.location}{held}"


@dataclass
class StatusReport:
    """A campaign compared with its ledger."""

    campaign: Campaign
    reconciliation: Reconciliation
    video_counts: dict[str, int]
    #: Per job with more than one version: its current version's number and its earlier versions, oldest
    #: first, as (version, record); their files are kept in ``<job-id>/v<k>/`` (see `versions`).
    history: dict[str, tuple[int, list[tuple[int, JobRecord]]]] = field(default_factory=dict)
    #: Where the ledger is and who holds its lock.
    ledger: LedgerWhere | None = None
    #: The picks recorded from the review page (`review.recorded_picks`), or None.
    picks: dict[str, Any] | None = None
    #: The campaign's credits per model and in total, over every version of every job (`CreditTotals`).
    credits: CreditTotals = field(default_factory=lambda: CreditTotals())
    #: Versions of jobs the report does not hold (removed from the spec, or left out by ``--only``) that were
    #: sent and are not finished, as (record, version, whether the spec still has the job): a run follows them.
    outside_unfinished: list[tuple[JobRecord, int, bool]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every job of the spec is done (all its videos downloaded), and no version that was sent is unfinished
        (generating, in doubt, or with videos still to download: a run follows it), whether it is an earlier
        version of one of them or a version of a job removed from the spec or left out by ``--only``."""
        return (all(item.disposition == Disposition.DONE for item in self.reconciliation.jobs)
                and not self.earlier_unfinished and not self.outside_unfinished)

    @property
    def earlier_unfinished(self) -> list[tuple[str, int, JobRecord]]:
        """The spec's jobs' earlier versions that are `versions.unfinished`, as (job id, version, record)."""
        return [(item.job_id, k, record) for item in self.reconciliation.jobs
                for k, record in self.history.get(item.job_id, (0, []))[1] if unfinished(record)]


def open_ledger(campaign: Campaign, ledger_url: str | None = None) -> Ledger:
    """The ledger of ``campaign`` (its output folder's, or the shared one at ``ledger_url``), opened for
    reading; `StatusError` if it cannot be read."""
    try:
        return Ledger.open_for_reading(campaign.output, url=ledger_url, campaign=campaign.name)
    except LedgerError as exc:
        raise StatusError(str(exc)) from exc
    except OSError as exc:
        raise StatusError(f"cannot read the ledger in {campaign.output}: {exc.strerror or exc}") from exc


def compare_with_ledger(campaign: Campaign, ledger_url: str | None = None) -> tuple[Reconciliation, dict[str, int]]:
    """The campaign's jobs against its ledger (the output folder's, or the shared one at ``ledger_url``; an
    empty ledger if it never ran), and their videos per state. Jobs that ``--only`` left out
    (``campaign.skipped``) are neither compared nor orphans."""
    reconciliation, videos, _, _ = read_ledger(campaign, ledger_url)
    return reconciliation, videos


def read_ledger(campaign: Campaign, ledger_url: str | None = None, history: bool = False,
                totals: CreditTotals | None = None
                ) -> tuple[Reconciliation, dict[str, int], list[JobRecord], LedgerWhere]:
    """`compare_with_ledger`, with ``history`` every earlier version of a job (from the same read), and where the
    ledger is and who holds its lock; with ``totals``, every version's credits are added to it (the whole
    campaign's, ``--only`` or not)."""
    with open_ledger(campaign, ledger_url) as ledger:
        return reconcile_ledger(campaign, ledger, ledger_url is not None, history, totals)


def reconcile_ledger(campaign: Campaign, ledger: Ledger, shared: bool, history: bool = False,
                     totals: CreditTotals | None = None
                     ) -> tuple[Reconciliation, dict[str, int], list[JobRecord], LedgerWhere]:
    """`read_ledger` on a ledger already open (``shared``: the PostgreSQL one), so a caller that reads more
    from it opens it once."""
    try:
        reconciliation = ledger.reconcile(campaign.jobs)
        earlier = ledger.replaced() if history else []
        if totals is not None:
            for record in [*ledger.jobs(), *(earlier if history else ledger.replaced())]:
                totals.add(record)
        where = LedgerWhere(ledger.location, shared, ledger.lock_holder())
    except LedgerError as exc:  # the shared ledger went away while being read
        raise StatusError(str(exc)) from exc
    if campaign.skipped:
        skipped = set(campaign.skipped)
        reconciliation = Reconciliation(reconciliation.jobs,
                                        [item for item in reconciliation.orphaned if item.job_id not in skipped])
    videos = Counter(str(v.state) for item in (*reconciliation.jobs, *reconciliation.orphaned)
                     if item.record is not None for v in item.record.videos)
    return reconciliation, dict(videos), earlier, where


def read_status(campaign: Campaign, ledger_url: str | None = None) -> StatusReport:
    """The status report of ``campaign`` (its ledger: the output folder's, or the shared one at ``ledger_url``)."""
    from .review.picks import recorded_picks

    totals = CreditTotals()
    with open_ledger(campaign, ledger_url) as ledger:
        reconciliation, videos, earlier, where = reconcile_ledger(campaign, ledger, ledger_url is not None,
                                                                  history=True, totals=totals)
        try:
            picks = recorded_picks(ledger)
            skipped = set(campaign.skipped)
            outside = [(r, k, r.job_id in skipped) for r, k in
                       unfinished_outside(ledger.jobs(), earlier, {job.id for job in campaign.jobs})]
        except LedgerError as exc:
            raise StatusError(f"cannot read the ledger in {campaign.output}: {exc}") from exc
    return StatusReport(campaign, reconciliation, videos, _history(reconciliation, earlier),
                        picks=picks, ledger=where, credits=totals, outside_unfinished=outside)


def _history(reconciliation: Reconciliation, earlier: list[JobRecord]
             ) -> dict[str, tuple[int, list[tuple[int, JobRecord]]]]:
    """The version history of the reconciled jobs that have earlier versions."""
    shown = {item.job_id: item.record for item in (*reconciliation.jobs, *reconciliation.orphaned)}
    earlier = [r for r in earlier if r.job_id in shown]
    current = [r for r in (shown[job_id] for job_id in {r.job_id for r in earlier}) if r is not None]
    numbers = numbered([*earlier, *current])
    history: dict[str, tuple[int, list[tuple[int, JobRecord]]]] = {
        r.job_id: (numbers[r.rowid], []) for r in current}
    for record in earlier:
        history.setdefault(record.job_id, (0, []))[1].append((numbers[record.rowid], record))
    return history
