"""A run's start: one pass over every job's current version (in brief, a page at a time) that finds what is left
to do, checks the files of the videos already downloaded, and tallies the summary on the way."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..campaign import Campaign, PlannedJob
from ..ledger import JobState, JobTransition, Ledger, Op, VideoState, VideoTransition
from .context import EngineOptions
from .download import Downloads
from .summary import Tally


@dataclass
class Found:
    """What `go_through` found."""

    #: The summary of the campaign as the pass found it.
    tally: Tally
    #: Rows of the current records with something to do (to be read whole).
    work: list[int] = field(default_factory=list)
    #: What to record before the run goes on: failed jobs to send again, videos to fetch again.
    reset: list[Op] = field(default_factory=list)
    #: The videos already on disk and intact, out of all the current jobs' (the progress's start).
    downloaded: int = 0
    total: int = 0


def go_through(ledger: Ledger, campaign: Campaign, jobs: dict[str, PlannedJob], downloads: Downloads,
               options: EngineOptions) -> Found:
    """Go through the current versions of ``campaign``'s jobs (``jobs``: by id) a page at a time: a job with
    nothing left to do (succeeded, every video on disk and intact, its last frames saved) is only counted; the
    others' rows are kept (`Found.work`), with the transitions that make failed or damaged work go again
    (``--retry-failed``, ``--resubmit-in-doubt``; a missing or damaged file is always fetched again: a download
    costs nothing). Nothing is written here. A rerun of 100,000 done jobs holds no record."""
    found = Found(Tally(ledger, campaign))
    folders = downloads.job_folders()
    for page in ledger.brief_pages():
        for brief in page:
            found.tally.add(brief)
        current = [(jobs.get(brief.job_id), brief) for brief in page]
        files = [(brief, video) for job, brief in current if job is not None and brief.state == JobState.SUCCEEDED
                 for video in brief.videos if video.state == VideoState.DOWNLOADED]
        intact = downloads.intact([video for _, video in files], folders)
        kept = {(brief.row, video.n) for i, (brief, video) in enumerate(files) if i in intact}
        for job, brief in current:
            if job is None:
                continue
            state = brief.state
            found.total += len(brief.videos) if state == JobState.SUCCEEDED else job.num_videos
            if (state == JobState.FAILED and options.retry_failed) or (
                state == JobState.IN_DOUBT and options.resubmit_in_doubt
            ):
                found.reset.append(JobTransition(brief.row, JobState.PLANNED))
            elif state == JobState.SUCCEEDED:
                refetch = [VideoTransition(brief.row, video.n, VideoState.PENDING) for video in brief.videos
                           if video.state in (VideoState.FAILED, VideoState.DOWNLOADED)
                           and (brief.row, video.n) not in kept]
                found.reset += refetch
                found.downloaded += sum((brief.row, video.n) in kept for video in brief.videos)
                if not refetch and downloads.done(job, brief):
                    # Nothing left to do for it: no flow (a rerun of 20,000 done jobs would start 20,000).
                    continue
            elif state not in (JobState.PLANNED, JobState.SUBMITTED):
                continue
            found.work.append(brief.row)
    return found
