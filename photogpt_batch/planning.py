"""What `run` would do: every job of a campaign with its state against the ledger. Sends nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from .jobs import Campaign
from .ledger import Reconciled, Reconciliation
from .status import reconcile


@dataclass
class Plan:
    """The plan of a campaign: its jobs in spec order with their disposition, and orphaned ledger jobs."""

    campaign: Campaign
    reconciliation: Reconciliation

    @property
    def orphaned(self) -> list[str]:
        """Ids in the ledger that the spec no longer has (nothing is deleted)."""
        return [item.job_id for item in self.reconciliation.orphaned]

    def counts(self) -> dict[str, int]:
        """Jobs per state (new, changed, in_flight, done, failed, in_doubt, orphaned)."""
        return {str(k): v for k, v in self.reconciliation.counts.items()}

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON: campaign, output, counts, jobs (id, model, state, contentHash, request, remote
        id when known, warnings) and orphaned ids."""
        return {**self._head(), "jobs": [_entry_json(item) for item in self.reconciliation.jobs],
                "orphaned": self.orphaned}

    def _head(self) -> dict[str, Any]:
        return {"campaign": self.campaign.name, "output": str(self.campaign.output), "counts": self.counts()}

    def iter_json(self) -> Iterator[str]:
        """`to_json` as text, indented by 2 and newline-terminated, in pieces of one job each.

        The text is exactly ``json.dumps(plan.to_json(), indent=2, ensure_ascii=False) + "\\n"``, but a
        100,000-job plan is never held whole, neither as dicts nor as one string (that costs ~300 MB).
        """
        encoder = json.JSONEncoder(indent=2, ensure_ascii=False)
        # Keys are JSON strings whose quotes are never escaped, so '"jobs": []' occurs once, as the key.
        before, after = encoder.encode({**self._head(), "jobs": [], "orphaned": self.orphaned}).split(
            '"jobs": []', 1)
        yield before + '"jobs": ['
        for i, item in enumerate(self.reconciliation.jobs):
            text = encoder.encode(_entry_json(item)).replace("\n", "\n    ")  # newlines in values are escaped
            yield ("\n    " if i == 0 else ",\n    ") + text
        yield ("\n  ]" if self.reconciliation.jobs else "]") + after + "\n"

    def write_json(self, stream: IO[str]) -> None:
        """Write `iter_json` to ``stream``: what ``plan --json`` prints, streamed."""
        for piece in self.iter_json():
            stream.write(piece)


def _entry_json(item: Reconciled) -> dict[str, Any]:
    job = item.planned
    assert job is not None
    entry: dict[str, Any] = {"id": job.id, "model": job.model, "state": str(item.disposition),
                             "contentHash": job.content_hash, "request": job.body, "warnings": list(job.warnings)}
    if item.record is not None and item.record.content_hash == job.content_hash and item.record.remote_id:
        entry["jobId"] = item.record.remote_id
    return entry


def make_plan(campaign: Campaign) -> Plan:
    """The plan for ``campaign`` against the ledger in its output folder."""
    reconciliation, _ = reconcile(campaign)
    return Plan(campaign, reconciliation)
