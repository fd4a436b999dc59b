"""What a run achieved (`RunSummary`), computed from the ledger, for the closing report and the exit code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..campaign import Campaign
from ..ledger import JobRecord, JobState, Ledger, VideoState
from ..ledger.versions import unfinished_earlier, unfinished_outside
from ..readiness import BLOCKED, WAITING, Readiness, readiness
from ..review.picks import recorded_picks
from ..spend.budget import SpendPreview


@dataclass
class RunSummary:
    """What a run achieved, for the closing report and the exit code."""

    jobs: int = 0
    succeeded: int = 0
    videos_expected: int = 0
    videos_downloaded: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    video_failures: list[tuple[str, str]] = field(default_factory=list)
    in_doubt: list[str] = field(default_factory=list)
    not_submitted: list[str] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)
    #: Jobs not sent because what they need is not done or not picked yet, as (id, why): not a failure.
    waiting: list[tuple[str, str]] = field(default_factory=list)
    #: Jobs not sent because something they need failed, as (id, why naming the failure): a failure.
    blocked: list[tuple[str, str]] = field(default_factory=list)
    #: Earlier versions (no longer the spec's) that were sent and are not finished, as (``<job-id> v<k>``,
    #: ledger state): each is followed by every run until it is done or failed (see `ledger.versions.unfinished`).
    earlier_unfinished: list[tuple[str, str]] = field(default_factory=list)
    #: Versions of jobs the run does not hold (removed from the spec, or left out by ``--only``) that were sent
    #: and are not finished, as (``<job-id> v<k>``, ledger state, whether the spec still has the job): each is
    #: followed by every run too (see `ledger.versions.unfinished_outside`).
    outside_unfinished: list[tuple[str, str, bool]] = field(default_factory=list)
    #: The campaign's total credits: every version of every job, every run (None: none known yet).
    credits: float | None = None
    #: How many jobs (versions) that total covers, and how many sent jobs still lack their credits.
    credits_jobs: int = 0
    credits_pending: int = 0
    #: This run's spend: credits of the jobs this run submitted, and how many of them lack credits still.
    run_credits: float = 0.0
    run_credits_pending: int = 0
    #: The budget (credits) when one applies, what it stands at, and how many jobs it kept from submission.
    budget: float | None = None
    budget_committed: float = 0.0
    budget_not_submitted: int = 0
    #: Price classes the budget could not price in this run: (class, why, jobs not submitted for it).
    budget_unpriced: list[tuple[str, str, int]] = field(default_factory=list)
    #: What the run would have paid for, when it asked first (None: no question was asked).
    preview: SpendPreview | None = None
    #: The user answered "no" to the question before paying: nothing was sent.
    declined: bool = False
    interrupted: bool = False
    #: Why the run stopped on its own before the end (the API refused the key mid-run), else None.
    aborted: str | None = None
    #: Why ``manifest.jsonl`` could not be written at the end (the ledger still holds every video), else None.
    manifest_error: str | None = None

    @property
    def complete(self) -> bool:
        """Every job that can run succeeded and every video is on disk (jobs waiting for picks do not count:
        they are not failures; blocked ones are)."""
        return (not self.failed and not self.blocked and not self.video_failures and not self.in_doubt
                and not self.not_submitted and not self.in_flight and not self.earlier_unfinished
                and not self.outside_unfinished
                and self.videos_downloaded == self.videos_expected and not self.interrupted
                and self.aborted is None and self.manifest_error is None and not self.declined)

    @property
    def budget_reached(self) -> bool:
        """The budget kept jobs from being submitted."""
        return self.budget_not_submitted > 0


def summarise(ledger: Ledger, campaign: Campaign, sent: Iterable[int] = ()) -> RunSummary:
    """What the ledger says about a campaign's jobs: done, failed (with reasons), in doubt; the campaign's
    credits (every version, every run: what it paid) and those of the rows in ``sent`` (this run's)."""
    summary = RunSummary(jobs=len(campaign.jobs))
    this_run = set(sent)
    total = 0.0
    current, earlier = ledger.jobs(), ledger.replaced()
    for version in [*current, *earlier]:
        if version.credits is not None:
            total += version.credits
            summary.credits_jobs += 1
            if version.row in this_run:
                summary.run_credits += version.credits
        elif version.remote_id or version.state == JobState.IN_DOUBT:
            summary.credits_pending += 1
            summary.run_credits_pending += version.row in this_run
    summary.credits = total if summary.credits_jobs else None
    spec_ids = {job.id for job in campaign.jobs}
    summary.earlier_unfinished = [(f"{r.job_id} v{k}", str(r.state)) for r, k in
                                  unfinished_earlier([r for r in current if r.job_id in spec_ids], earlier)]
    skipped = set(campaign.skipped)
    summary.outside_unfinished = [(f"{r.job_id} v{k}", str(r.state), r.job_id in skipped)
                                  for r, k in unfinished_outside(current, earlier, spec_ids)]
    ready = _readiness(ledger, campaign, current)
    for item in ledger.reconcile(campaign.jobs, current).jobs:
        record = item.record
        expected = item.planned.num_videos if item.planned else 0
        if record is None or record.content_hash != (item.planned.content_hash if item.planned else None) or (
                record.state == JobState.PLANNED):
            found = ready.get(item.job_id)
            if found is not None and found.state == WAITING:
                summary.waiting.append((item.job_id, found.why))  # its videos are not expected of this run
                continue
            if found is not None and found.state == BLOCKED:
                summary.blocked.append((item.job_id, found.why))
            else:
                summary.not_submitted.append(item.job_id)
            summary.videos_expected += expected
            continue
        if record.state == JobState.SUCCEEDED:
            summary.succeeded += 1
            summary.videos_expected += len(record.videos)
            for video in record.videos:
                if video.state == VideoState.DOWNLOADED:
                    summary.videos_downloaded += 1
                elif video.state == VideoState.FAILED:
                    summary.video_failures.append((f"{item.job_id}/{video.n}", video.error or "download failed"))
            continue
        summary.videos_expected += expected
        if record.state == JobState.FAILED:
            summary.failed.append((item.job_id, record.error or "failed"))
        elif record.state == JobState.IN_DOUBT:
            summary.in_doubt.append(item.job_id)
        else:
            summary.in_flight.append(item.job_id)
    return summary


def _readiness(ledger: Ledger, campaign: Campaign, current: list[JobRecord]) -> dict[str, Readiness]:
    """The readiness of the campaign's jobs that need others, from the ledger's records and recorded picks."""
    if not campaign.needs:
        return {}
    picks = recorded_picks(ledger)
    return readiness(campaign.needs, {r.job_id: r for r in current},
                     {p["job"] for p in (picks or {}).get("jobs", ())})
