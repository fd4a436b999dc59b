"""The one read of a campaign's ledger that ``plan`` and ``status`` share: the spec's jobs against it, their videos
per state, and where the ledger is and who holds its lock. Reads only."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..campaign import Campaign
from ..errors import StatusError
from ..ledger import JobRecord, Ledger, LedgerError, LockHolder, Reconciliation


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


@dataclass(frozen=True)
class LedgerRead:
    """What `read_ledger` found: the spec's jobs against the ledger, their videos per state, the earlier versions
    (when asked for) and where the ledger is."""

    #: The spec's jobs in spec order, then the ledger's jobs the spec dropped (not those ``--only`` left out).
    reconciliation: Reconciliation
    #: Videos per state, over the reconciled jobs' current versions.
    video_counts: dict[str, int]
    #: Every earlier (replaced) version of a job, with ``history``; else empty.
    earlier: list[JobRecord]
    where: LedgerWhere


def open_ledger(campaign: Campaign, ledger_url: str | None = None) -> Ledger:
    """The ledger of ``campaign`` (its output folder's, or the shared one at ``ledger_url``), opened for
    reading; `StatusError` if it cannot be read."""
    try:
        return Ledger.open_for_reading(campaign.output, url=ledger_url, campaign=campaign.name)
    except LedgerError as exc:
        raise StatusError(str(exc)) from exc
    except OSError as exc:
        raise StatusError(f"cannot read the ledger in {campaign.output}: {exc.strerror or exc}") from exc


def read_ledger(campaign: Campaign, ledger: Ledger, shared: bool, history: bool = False) -> LedgerRead:
    """The campaign's jobs against ``ledger``, already open (``shared``: the PostgreSQL one), so a caller that
    reads more from it opens it once; with ``history``, every earlier version of a job too. Jobs that ``--only``
    left out (``campaign.skipped``) are neither compared nor orphans. `StatusError` if the ledger went away."""
    try:
        reconciliation = ledger.reconcile(campaign.jobs)
        earlier = ledger.replaced() if history else []
        where = LedgerWhere(ledger.location, shared, ledger.lock_holder())
    except LedgerError as exc:  # the shared ledger went away while being read
        raise StatusError(str(exc)) from exc
    if campaign.skipped:
        skipped = set(campaign.skipped)
        reconciliation = Reconciliation(reconciliation.jobs,
                                        [item for item in reconciliation.orphaned if item.job_id not in skipped])
    videos = Counter(str(v.state) for item in (*reconciliation.jobs, *reconciliation.orphaned)
                     if item.record is not None for v in item.record.videos)
    return LedgerRead(reconciliation, dict(videos), earlier, where)
