"""What `run` would do: every job of a campaign with its state against the ledger."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .jobs import Campaign, PlannedJob


@dataclass(frozen=True)
class PlanEntry:
    """One job and its state: new, changed, in_flight, done, failed, in_doubt."""

    job: PlannedJob
    state: str


@dataclass
class Plan:
    """The plan of a campaign: its jobs in spec order, and ledger jobs no longer in the spec."""

    campaign: Campaign
    entries: list[PlanEntry]
    orphaned: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Jobs per state (orphaned included when there are any)."""
        counts = Counter(e.state for e in self.entries)
        if self.orphaned:
            counts["orphaned"] = len(self.orphaned)
        return dict(counts)

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON: campaign, output, counts, jobs (id, model, state, contentHash, request), orphaned."""
        return {
            "campaign": self.campaign.name,
            "output": str(self.campaign.output),
            "counts": self.counts(),
            "jobs": [
                {"id": e.job.id, "model": e.job.model, "state": e.state, "contentHash": e.job.content_hash,
                 "request": e.job.body, "warnings": list(e.job.warnings)}
                for e in self.entries
            ],
            "orphaned": self.orphaned,
        }


def make_plan(campaign: Campaign) -> Plan:
    """The plan for ``campaign``: every job is new until the ledger exists."""
    return Plan(campaign, [PlanEntry(job, "new") for job in campaign.jobs])
