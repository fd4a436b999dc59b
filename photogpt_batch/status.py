"""The ledger's view of a campaign, read-only: what ``status`` and ``plan`` show."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .jobs import Campaign
from .ledger import Disposition, Ledger, LedgerError, LockHolder, Reconciliation


class StatusError(Exception):
    """The ledger cannot be read (corrupt, foreign, unreachable, or from a newer version)."""


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
    ledger: LedgerWhere | None = field(default=None)

    @property
    def complete(self) -> bool:
        """Every job of the spec is done (all its videos downloaded)."""
        return all(item.disposition == Disposition.DONE for item in self.reconciliation.jobs)


def read_ledger(campaign: Campaign, ledger_url: str | None = None
                ) -> tuple[Reconciliation, dict[str, int], LedgerWhere]:
    """The campaign's jobs against its ledger (the output folder's, or the shared one at ``ledger_url``; an
    empty ledger if it never ran), the video counts, and where the ledger is and who holds its lock."""
    try:
        ledger = Ledger.open_for_reading(campaign.output, url=ledger_url, campaign=campaign.name)
    except LedgerError as exc:
        raise StatusError(str(exc)) from exc
    except OSError as exc:
        raise StatusError(f"cannot read the ledger in {campaign.output}: {exc.strerror or exc}") from exc
    try:
        with ledger:
            where = LedgerWhere(ledger.location, ledger_url is not None, ledger.lock_holder())
            return ledger.reconcile(campaign.jobs), ledger.counts()["videos"], where
    except LedgerError as exc:
        raise StatusError(str(exc)) from exc


def compare_with_ledger(campaign: Campaign, ledger_url: str | None = None) -> tuple[Reconciliation, dict[str, int]]:
    """The campaign's jobs against its ledger (an empty ledger if it never ran), and the video counts."""
    reconciliation, videos, _ = read_ledger(campaign, ledger_url)
    return reconciliation, videos


def read_status(campaign: Campaign, ledger_url: str | None = None) -> StatusReport:
    """The status report of ``campaign``."""
    reconciliation, videos, where = read_ledger(campaign, ledger_url)
    return StatusReport(campaign, reconciliation, videos, where)
