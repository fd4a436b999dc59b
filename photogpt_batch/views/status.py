"""The status view: a campaign compared with its ledger, read-only (what ``status`` shows; `status_render` prints
it)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..campaign import Campaign
from ..errors import StatusError as StatusError  # re-exported: callers catch it from here too
from ..ledger import Disposition, JobRecord, JobState, LedgerError, Reconciliation
from ..ledger.versions import numbered, unfinished, unfinished_outside
from ..readiness import WAITING, Readiness, readiness
from ..sequences.state import SequenceState, sequence_states
from .ledger_read import LedgerWhere, open_ledger, read_ledger


class ModelCredits(NamedTuple):
    """What one model's jobs paid: credits, jobs priced, and sent jobs without credits yet."""

    credits: float
    priced: int
    pending: int


class EarlierVersion(NamedTuple):
    """An earlier version of a job: its number and its ledger record."""

    version: int
    record: JobRecord


class VersionHistory(NamedTuple):
    """A job's versions: its current version's number, and its earlier versions, oldest first."""

    current: int
    earlier: list[EarlierVersion]


class UnfinishedEarlier(NamedTuple):
    """An earlier version of a spec's job that was sent and is not finished."""

    job_id: str
    version: int
    record: JobRecord


class OutsideVersion(NamedTuple):
    """A sent, unfinished version of a job the report does not hold, and whether the spec still has the job
    (left out by ``--only``) or not (removed from the spec)."""

    record: JobRecord
    version: int
    in_spec: bool


@dataclass
class CreditTotals:
    """What a campaign paid: per model (credits, jobs priced, sent jobs without credits yet) and in total."""

    per_model: dict[str, ModelCredits] = field(default_factory=dict)

    def add(self, record: JobRecord) -> None:
        """Count one job version (one not sent counts nowhere)."""
        credits, priced, pending = self.per_model.get(record.model, ModelCredits(0.0, 0, 0))
        if record.credits is not None:
            self.per_model[record.model] = ModelCredits(credits + record.credits, priced + 1, pending)
        elif record.remote_id or record.state == JobState.IN_DOUBT:
            self.per_model[record.model] = ModelCredits(credits, priced, pending + 1)

    @property
    def total(self) -> ModelCredits:
        """(credits, jobs priced, sent jobs without credits yet) over every model."""
        rows = self.per_model.values()
        return ModelCredits(sum(r.credits for r in rows), sum(r.priced for r in rows), sum(r.pending for r in rows))


@dataclass
class StatusReport:
    """A campaign compared with its ledger."""

    campaign: Campaign
    reconciliation: Reconciliation
    video_counts: dict[str, int]
    #: Per job with more than one version: its current version's number and its earlier versions, oldest
    #: first, as (version, record); their files are kept in ``<job-id>/v<k>/`` (see `versions`).
    history: dict[str, VersionHistory] = field(default_factory=dict)
    #: Where the ledger is and who holds its lock.
    ledger: LedgerWhere | None = None
    #: The picks recorded from the review page (`review.recorded_picks`), or None.
    picks: dict[str, Any] | None = None
    #: The campaign's credits per model and in total, over every version of every job (`CreditTotals`).
    credits: CreditTotals = field(default_factory=lambda: CreditTotals())
    #: Versions of jobs the report does not hold (removed from the spec, or left out by ``--only``) that were
    #: sent and are not finished, as (record, version, whether the spec still has the job): a run follows them.
    outside_unfinished: list[OutsideVersion] = field(default_factory=list)
    #: The spec's sequences, each built, waiting for jobs or to be (re)built by the next run.
    sequences: list[SequenceState] = field(default_factory=list)
    #: The readiness of the jobs not sent yet that need others: waiting (for what) or blocked (by what).
    readiness: dict[str, Readiness] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every job of the spec is done (all its videos downloaded), and no version that was sent is unfinished
        (generating, in doubt, or with videos still to download: a run follows it), whether it is an earlier
        version of one of them or a version of a job removed from the spec or left out by ``--only``."""
        # A job waiting for what it needs is not unfinished in itself: what it waits for is (a draft generating),
        # or it waits for picks, which only a reviewer can give. A blocked job's failed need is a failure.
        return (all(item.disposition == Disposition.DONE or self.waiting(item.job_id)
                    for item in self.reconciliation.jobs)
                and not self.earlier_unfinished and not self.outside_unfinished)

    def waiting(self, job_id: str) -> bool:
        """The job is not sent yet and waits for what it needs (not blocked)."""
        found = self.readiness.get(job_id)
        return found is not None and found.state == WAITING

    @property
    def earlier_unfinished(self) -> list[UnfinishedEarlier]:
        """The spec's jobs' earlier versions that are `ledger.versions.unfinished`, as (job id, version, record)."""
        return [UnfinishedEarlier(item.job_id, k, record) for item in self.reconciliation.jobs
                for k, record in self.history.get(item.job_id, VersionHistory(0, [])).earlier if unfinished(record)]


def read_status(campaign: Campaign, ledger_url: str | None = None) -> StatusReport:
    """The status report of ``campaign`` (its ledger: the output folder's, or the shared one at ``ledger_url``)."""
    from ..review.picks import recorded_picks

    totals = CreditTotals()
    with open_ledger(campaign, ledger_url) as ledger:
        read = read_ledger(campaign, ledger, ledger_url is not None, history=True)
        try:  # every version's credits: the whole campaign's, --only or not
            for record in itertools.chain(ledger.iter_jobs(), read.earlier):  # a page at a time: `read` holds a copy
                totals.add(record)
        except LedgerError as exc:  # the shared ledger went away while being read
            raise StatusError(str(exc)) from exc
        try:
            picks = recorded_picks(ledger)
            skipped = set(campaign.skipped)
            held = {job.id for job in campaign.jobs}
            # The current versions of the jobs outside the run, read by their rows (a second full read of every
            # record, beside the report's, was status's peak of memory: 420 MB at 100,000 jobs).
            outside = [OutsideVersion(r, k, r.job_id in skipped) for r, k in
                       unfinished_outside(ledger.current_outside(held), read.earlier, held)]
            sequences = (sequence_states(campaign.output, campaign.sequences, ledger.manifest_entries())
                         if campaign.sequences else [])
            ready = not_sent_readiness(campaign, read.reconciliation, picks)
        except LedgerError as exc:
            raise StatusError(f"cannot read the ledger in {campaign.output}: {exc}") from exc
    return StatusReport(campaign, read.reconciliation, read.video_counts, _history(read.reconciliation, read.earlier),
                        picks=picks, ledger=read.where, credits=totals, outside_unfinished=outside,
                        sequences=sequences, readiness=ready)


def not_sent_readiness(campaign: Campaign, reconciliation: Reconciliation, picks: dict[str, Any] | None
                       ) -> dict[str, Readiness]:
    """The readiness of the spec's jobs not sent yet (new or changed) that need others, from the ledger's
    records of the current content and the recorded picks (``plan`` and ``status`` say the same)."""
    if not campaign.needs:
        return {}
    records = {item.job_id: item.record for item in reconciliation.jobs if item.record is not None
               and item.planned is not None and item.record.content_hash == item.planned.content_hash}
    unsent = {item.job_id for item in reconciliation.jobs
              if item.disposition in (Disposition.NEW, Disposition.CHANGED)}
    found = readiness(campaign.needs, records, {p["job"] for p in (picks or {}).get("jobs", ())})
    return {job: r for job, r in found.items() if job in unsent and not r.ready}


def _history(reconciliation: Reconciliation, earlier: list[JobRecord]) -> dict[str, VersionHistory]:
    """The version history of the reconciled jobs that have earlier versions."""
    shown = {item.job_id: item.record for item in (*reconciliation.jobs, *reconciliation.orphaned)}
    earlier = [r for r in earlier if r.job_id in shown]
    current = [r for r in (shown[job_id] for job_id in {r.job_id for r in earlier}) if r is not None]
    numbers = numbered([*earlier, *current])
    history = {r.job_id: VersionHistory(numbers[r.row], []) for r in current}
    for record in earlier:
        history.setdefault(record.job_id, VersionHistory(0, [])).earlier.append(
            EarlierVersion(numbers[record.row], record))
    return history
