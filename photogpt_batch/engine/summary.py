"""What a run achieved (`RunSummary`), computed from the ledger, for the closing report and the exit code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..campaign import Campaign, PlannedJob
from ..ledger import JobBrief, JobRecord, JobState, Ledger, VideoState
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
    credits (every version, every run: what it paid) and those of the rows in ``sent`` (this run's). The lists
    are in the spec's order.

    The current versions are gone through once, a page at a time and in brief (`Ledger.iter_briefs`), keeping
    the rows of the few that other answers need whole (jobs with earlier versions, jobs the spec no longer holds,
    jobs of the needs graph), read again at the end: at 100,000 jobs, a full read held at the end of a run was
    its peak of memory."""
    tally = Tally(ledger, campaign, sent)
    for brief in ledger.iter_briefs():
        tally.add(brief)
    return tally.summary()


class Tally:
    """A summary gathered a job at a time (`summarise`), from a pass over the current versions that a caller may
    be making anyway: a run's start goes through every job once, and when the ledger's revision has not moved by
    its end (nothing was written: a rerun with nothing to do), the summary is the start's tally, not a second pass
    (`fresh`)."""

    def __init__(self, ledger: Ledger, campaign: Campaign, sent: Iterable[int] = ()) -> None:
        """``sent``: this run's rows, whose credits are the run's spend. Reads the ledger's revision first."""
        self.ledger, self.campaign = ledger, campaign
        #: The ledger's revision before the pass: equal at the end, the pass saw what the ledger holds then.
        self.revision = ledger.revision()
        self._summary = RunSummary(jobs=len(campaign.jobs))
        self._this_run = set(sent)
        self._total = 0.0
        self._earlier = ledger.replaced()
        self._with_earlier = {r.job_id for r in self._earlier}
        self._position = {job.id: i for i, job in enumerate(campaign.jobs)}
        self._in_graph = set(campaign.needs) | {need.job for needs in campaign.needs.values() for need in needs}
        self._kept_earlier: list[int] = []  # rows of the current versions of jobs with earlier ones
        self._outside: list[int] = []  # rows of the current versions of jobs the run does not hold
        self._graph: list[int] = []  # rows of the current versions of the jobs of the needs graph, for readiness
        self._unsent: list[int] = []  # positions of jobs with nothing sent for their current content
        self._recorded = bytearray(len(campaign.jobs))  # by position: the job has a record
        self._lists = _Lists()

    def fresh(self) -> bool:
        """Whether nothing was written to the ledger since this tally began (its revision has not moved)."""
        return self.ledger.revision() == self.revision

    def _count_credits(self, version: JobRecord | JobBrief) -> None:
        summary = self._summary
        if version.credits is not None:
            self._total += version.credits
            summary.credits_jobs += 1
            if version.row in self._this_run:
                summary.run_credits += version.credits
        elif version.remote_id or version.state == JobState.IN_DOUBT:
            summary.credits_pending += 1
            summary.run_credits_pending += version.row in self._this_run

    def add(self, record: JobBrief) -> None:
        """Count one current version (each once, in any order)."""
        self._count_credits(record)
        index = self._position.get(record.job_id)
        if index is None:
            self._outside.append(record.row)
            return
        if record.job_id in self._with_earlier:
            self._kept_earlier.append(record.row)
        if record.job_id in self._in_graph:
            self._graph.append(record.row)
        job = self.campaign.jobs[index]
        if record.content_hash != job.content_hash or record.state == JobState.PLANNED:
            self._unsent.append(index)
        else:
            self._lists.sent(self._summary, index, job, record)
        self._recorded[index] = 1

    def summary(self) -> RunSummary:
        """The summary, once every current version was added (call it once)."""
        ledger, campaign, summary, earlier, lists = (self.ledger, self.campaign, self._summary, self._earlier,
                                                     self._lists)
        for version in earlier:
            self._count_credits(version)
        summary.credits = self._total if summary.credits_jobs else None
        summary.earlier_unfinished = [(f"{r.job_id} v{k}", str(r.state)) for r, k in
                                      unfinished_earlier(ledger.records_at(self._kept_earlier), earlier)]
        skipped = set(campaign.skipped)
        summary.outside_unfinished = [(f"{r.job_id} v{k}", str(r.state), r.job_id in skipped) for r, k in
                                      unfinished_outside(ledger.records_at(self._outside), earlier, self._position)]
        graph = self._graph
        ready = _readiness(ledger, campaign, {r.job_id: r for r in ledger.records_at(graph)} if graph else {})
        # Then the jobs with no record at all: nothing was ever sent for them.
        for index in [*self._unsent, *(i for i, seen in enumerate(self._recorded) if not seen)]:
            job = campaign.jobs[index]
            found = ready.get(job.id)
            if found is not None and found.state == WAITING:
                lists.waiting.append((index, (job.id, found.why)))  # its videos are not expected of this run
                continue
            if found is not None and found.state == BLOCKED:
                lists.blocked.append((index, (job.id, found.why)))
            else:
                lists.not_submitted.append((index, job.id))
            summary.videos_expected += job.num_videos
        lists.fill(summary)
        return summary


class _Lists:
    """A summary's lists as the records come (in the ledger's order), each item with its job's place in the
    spec; `fill` puts them in the spec's order."""

    def __init__(self) -> None:
        self.failed: list[tuple[int, tuple[str, str]]] = []
        self.video_failures: list[tuple[int, tuple[str, str]]] = []
        self.in_doubt: list[tuple[int, str]] = []
        self.in_flight: list[tuple[int, str]] = []
        self.not_submitted: list[tuple[int, str]] = []
        self.waiting: list[tuple[int, tuple[str, str]]] = []
        self.blocked: list[tuple[int, tuple[str, str]]] = []

    def sent(self, summary: RunSummary, index: int, job: PlannedJob, record: JobBrief) -> None:
        """Count a job whose current content was sent (``index``: its place in the spec)."""
        if record.state == JobState.SUCCEEDED:
            summary.succeeded += 1
            summary.videos_expected += len(record.videos)
            for video in record.videos:
                if video.state == VideoState.DOWNLOADED:
                    summary.videos_downloaded += 1
                elif video.state == VideoState.FAILED:
                    self.video_failures.append((index, (f"{job.id}/{video.n}", video.error or "download failed")))
            return
        summary.videos_expected += job.num_videos
        if record.state == JobState.FAILED:
            self.failed.append((index, (job.id, record.error or "failed")))
        elif record.state == JobState.IN_DOUBT:
            self.in_doubt.append((index, job.id))
        else:
            self.in_flight.append((index, job.id))

    def fill(self, summary: RunSummary) -> None:
        """Set the summary's lists, in the spec's order (a job's videos in their order)."""
        for name in ("failed", "video_failures", "in_doubt", "in_flight", "not_submitted", "waiting", "blocked"):
            items: list[tuple[int, Any]] = getattr(self, name)
            items.sort(key=lambda item: item[0])  # stable: a job's videos stay in their order
            setattr(summary, name, [value for _, value in items])


def _readiness(ledger: Ledger, campaign: Campaign, records: dict[str, JobRecord]) -> dict[str, Readiness]:
    """The readiness of the campaign's jobs that need others, from the records of the needs graph's jobs (by id)
    and the recorded picks."""
    if not campaign.needs:
        return {}
    picks = recorded_picks(ledger)
    return readiness(campaign.needs, records,
                     {p["job"] for p in (picks or {}).get("jobs", ())})
