"""The plan view: what `run` would do, every job of a campaign with its state against the ledger, what changed and
what it would cost (`plan_render` prints it). Sends nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..assets.store import parse_address, store_address
from ..campaign import Campaign
from ..errors import ConfigError
from ..ledger import Disposition, ReconciledJob, Reconciliation
from ..plugins import get_registry
from ..readiness import Readiness
from ..review.picks import recorded_picks
from ..spend.pricing import Estimate, PriceBook, estimate_all, learn_prices
from ..spend.stages import Stage, make_stages
from .diff import Change, body_diff
from .ledger_read import LedgerWhere, open_ledger, read_ledger
from .plan_upload import PlannedUpload, planned_upload
from .status import not_sent_readiness

#: The dispositions `run` pays for (without --retry-failed or --resubmit-in-doubt).
TO_PAY = (Disposition.NEW, Disposition.CHANGED)


@dataclass
class Plan:
    """The plan of a campaign: its jobs in spec order with their disposition, and orphaned ledger jobs; per
    changed job what changed, and per job its estimated credits."""

    campaign: Campaign
    reconciliation: Reconciliation
    prices: PriceBook | None = None
    #: Per changed job id, its fields that differ from the version the ledger holds.
    diffs: dict[str, list[Change]] = field(default_factory=dict)
    #: Where the ledger is and who holds its lock.
    ledger: LedgerWhere | None = None
    #: The object store local files go to (``--assets`` or $PHOTOGPT_BATCH_ASSETS; None: none configured).
    store: str | None = None
    #: The jobs `run` would submit grouped by depth in the needs graph (`spend.stages`); empty when the
    #: campaign's jobs need nothing.
    stages: list[Stage] = field(default_factory=list)
    #: The jobs not sent yet that `run` would not send yet either: waiting (for what) or blocked (by what).
    readiness: dict[str, Readiness] = field(default_factory=dict)

    @property
    def orphaned(self) -> list[str]:
        """Ids in the ledger that the spec no longer has (nothing is deleted)."""
        return [item.job_id for item in self.reconciliation.orphaned]

    def counts(self) -> dict[str, int]:
        """Jobs per state (new, changed, in_flight, done, failed, in_doubt, orphaned)."""
        return {str(k): v for k, v in self.reconciliation.counts.items()}

    def estimated_credits(self, item: ReconciledJob) -> float | None:
        """What submitting this job would cost, estimated from the prices paid (None: unknown)."""
        if self.prices is None or item.planned is None:
            return None
        return self.prices.estimate(item.planned.body)

    def estimate(self) -> Estimate:
        """The estimated cost of the jobs `run` would submit (new and changed)."""
        bodies = [item.planned.body for item in self.reconciliation.jobs
                  if item.planned is not None and item.disposition in TO_PAY]
        book = self.prices or PriceBook(get_registry())
        return estimate_all(book, bodies)

    def upload(self) -> PlannedUpload | None:
        """The local files the jobs `run` would submit reference, at most (the store is not asked which it
        holds); None when they reference none."""
        bodies = (item.planned.body for item in self.reconciliation.jobs
                  if item.planned is not None and item.disposition in TO_PAY)
        return planned_upload(self.campaign.assets, bodies, self.store)

    def to_json(self) -> dict[str, Any]:
        """What ``plan --json`` prints (`plan_render.plan_json`)."""
        from .plan_render import plan_json

        return plan_json(self)


def make_plan(campaign: Campaign, ledger_url: str | None = None, other_ledgers: bool = True,
              assets: str | None = None) -> Plan:
    """The plan for ``campaign`` against its ledger (the output folder's, or the shared one at ``ledger_url``),
    with the diff of each changed job and prices learned from this campaign's ledger (and, with
    ``other_ledgers``, the other ledgers on this machine); ``assets``: the object store its local files would be
    staged on (default $PHOTOGPT_BATCH_ASSETS)."""
    diffs: dict[str, list[Change]] = {}
    stages: list[Stage] = []
    ready: dict[str, Readiness] = {}
    with open_ledger(campaign, ledger_url) as ledger:
        read = read_ledger(campaign, ledger, ledger_url is not None)
        for item in read.reconciliation.jobs:
            if item.disposition == Disposition.CHANGED and item.record is not None and item.planned is not None:
                diffs[item.job_id] = body_diff(ledger.body(item.record.row), item.planned.body)
        prices = learn_prices(ledger, get_registry(), campaign.output, others=other_ledgers)
        if campaign.needs:  # only campaigns with needs read the picks
            picks = recorded_picks(ledger)
            stages = _stages(campaign, read.reconciliation, picks, prices)
            ready = not_sent_readiness(campaign, read.reconciliation, picks)
    return Plan(campaign, read.reconciliation, prices, diffs, read.where, _store(campaign, assets), stages, ready)


def _stages(campaign: Campaign, reconciliation: Reconciliation, picks: dict[str, Any] | None, prices: PriceBook
            ) -> list[Stage]:
    """The stages of the jobs `run` would submit (new and changed), with the recorded ``picks``."""
    picked = {p["job"] for p in picks["jobs"]} if picks is not None else set()
    sending = [item.planned for item in reconciliation.jobs if item.planned is not None and item.disposition in TO_PAY]
    return make_stages(sending, campaign.needs, picked, prices)


def _store(campaign: Campaign, assets: str | None) -> str | None:
    """The configured store's address, checked as `run` checks it when the campaign has local files."""
    address = store_address(assets)
    if address is not None and campaign.assets:
        try:
            parse_address(address)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    return address
