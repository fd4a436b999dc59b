"""The ledger's view of a campaign, read-only: what ``status`` and ``plan`` show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .jobs import Campaign
from .ledger import Disposition, Ledger, LedgerError, Reconciliation


class StatusError(Exception):
    """The ledger cannot be read (corrupt, foreign, or from a newer version)."""


@dataclass
class StatusReport:
    """A campaign compared with its ledger."""

    campaign: Campaign
    reconciliation: Reconciliation
    video_counts: dict[str, int]
    #: The picks recorded from the review page (`review.recorded_picks`), or None.
    picks: dict[str, Any] | None = None

    @property
    def complete(self) -> bool:
        """Every job of the spec is done (all its videos downloaded)."""
        return all(item.disposition == Disposition.DONE for item in self.reconciliation.jobs)


def compare_with_ledger(campaign: Campaign) -> tuple[Reconciliation, dict[str, int]]:
    """The campaign's jobs against the ledger in its output folder (an empty ledger if it never ran)."""
    try:
        ledger = Ledger.open_for_reading(campaign.output)
    except LedgerError as exc:
        raise StatusError(str(exc)) from exc
    except OSError as exc:
        raise StatusError(f"cannot read the ledger in {campaign.output}: {exc.strerror or exc}") from exc
    with ledger:
        return ledger.reconcile(campaign.jobs), ledger.counts()["videos"]


def read_status(campaign: Campaign) -> StatusReport:
    """The status report of ``campaign``."""
    reconciliation, videos = compare_with_ledger(campaign)
    return StatusReport(campaign, reconciliation, videos, read_picks(campaign))


def read_picks(campaign: Campaign) -> dict[str, Any] | None:
    """The picks recorded in the campaign's ledger (see `review.picks`), or None."""
    from .review.picks import recorded_picks

    try:
        with Ledger.open_for_reading(campaign.output) as ledger:
            return recorded_picks(ledger)
    except (LedgerError, OSError) as exc:
        raise StatusError(f"cannot read the ledger in {campaign.output}: {exc}") from exc
