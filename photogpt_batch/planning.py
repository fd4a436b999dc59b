"""What `run` would do: every job of a campaign with its state against the ledger. Sends nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from .jobs import Campaign
from .jsonstream import write_json
from .ledger import Reconciled, Reconciliation
from .status import LedgerWhere, read_ledger


@dataclass
class Plan:
    """The plan of a campaign: its jobs in spec order with their disposition, and orphaned ledger jobs."""

    campaign: Campaign
    reconciliation: Reconciliation
    ledger: LedgerWhere | None = None

    @property
    def orphaned(self) -> list[str]:
        """Ids in the ledger that the spec no longer has (nothing is deleted)."""
        return [item.job_id for item in self.reconciliation.orphaned]

    def counts(self) -> dict[str, int]:
        """Jobs per state (new, changed, in_flight, done, failed, in_doubt, orphaned)."""
        return {str(k): v for k, v in self.reconciliation.counts.items()}

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON: campaign, output, counts, skipped ids (left out by ``--only``), ledger (location,
        shared, lock holder), jobs (id, model, state, contentHash, request, remote id when known, warnings) and
        orphaned ids."""
        return {**self._head(), "jobs": [_entry_json(item) for item in self.reconciliation.jobs],
                "orphaned": self.orphaned}

    def _head(self) -> dict[str, Any]:
        head = {"campaign": self.campaign.name, "output": str(self.campaign.output), "counts": self.counts(),
                "skipped": self.campaign.skipped}
        if self.ledger is not None:
            head["ledger"] = self.ledger.to_json()
        return head

    def write_json(self, stream: IO[str]) -> None:
        """What ``plan --json`` prints (`to_json`, indented), streamed one job at a time."""
        write_json(stream, {**self._head(), "jobs": [], "orphaned": self.orphaned}, "jobs",
                   (_entry_json(item) for item in self.reconciliation.jobs))


def _entry_json(item: Reconciled) -> dict[str, Any]:
    job = item.planned
    assert job is not None
    entry: dict[str, Any] = {"id": job.id, "model": job.model, "state": str(item.disposition),
                             "contentHash": job.content_hash, "request": job.body, "warnings": list(job.warnings)}
    if item.record is not None and item.record.content_hash == job.content_hash and item.record.remote_id:
        entry["jobId"] = item.record.remote_id
    return entry


def make_plan(campaign: Campaign, ledger_url: str | None = None) -> Plan:
    """The plan for ``campaign`` against its ledger (the output folder's, or the shared one at ``ledger_url``)."""
    reconciliation, _, _, where = read_ledger(campaign, ledger_url)
    return Plan(campaign, reconciliation, where)
