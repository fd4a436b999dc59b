"""What the ledger returns: job, video and event records, the spec compared with the ledger, and who holds a
campaign's run lock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..campaign import PlannedJob
from .states import Disposition, JobState, VideoState


# Records are NamedTuples: immutable like frozen dataclasses, and several times cheaper to build, which
# matters when a read returns 100,000 of them.
class VideoRecord(NamedTuple):
    """One video of a job version (job row ``job``), as recorded. ``url`` (the signed file URL) is read only
    until the video is downloaded."""

    job: int
    n: int
    video_id: str | None
    state: VideoState
    url: str | None
    path: str | None
    bytes: int | None
    sha256: str | None
    error: str | None
    updated_at: float


def pending_videos(row: int, video_ids: Sequence[str], at: float) -> tuple[VideoRecord, ...]:
    """The videos a success records for job row ``row``: the server's ids in order, numbered from 1, pending."""
    return tuple(VideoRecord(row, n, video_id, VideoState.PENDING, None, None, None, None, None, at)
                 for n, video_id in enumerate(video_ids, 1))


class JobRecord(NamedTuple):
    """One version of a job, as recorded (its request body is read separately: `Ledger.body`)."""

    row: int
    job_id: str
    model: str
    content_hash: str
    state: JobState
    current: bool
    remote_id: str | None
    error: str | None
    err: str | None
    credits: float | None
    attempts: int
    submitted_at: float | None
    created_at: float
    updated_at: float
    videos: tuple[VideoRecord, ...] = ()

    @property
    def all_downloaded(self) -> bool:
        """Succeeded and every video downloaded."""
        return self.state is JobState.SUCCEEDED and all(v.state is VideoState.DOWNLOADED for v in self.videos)


class VideoBrief(NamedTuple):
    """What a pass over every job needs of one video (`JobBrief`): its number, state, file and error."""

    n: int
    state: VideoState
    path: str | None
    bytes: int | None
    sha256: str | None
    error: str | None


class JobBrief(NamedTuple):
    """What a pass over every job of a campaign needs of a job's current version (`Ledger.iter_briefs`): a run's
    start (is anything left to do, are its files intact) and its summary. Fewer columns than a `JobRecord`, so
    a rerun of 20,000 done jobs reads and builds half as much; a job with something to do is read again whole."""

    row: int
    job_id: str
    state: JobState
    content_hash: str
    credits: float | None
    remote_id: str | None
    error: str | None
    videos: tuple[VideoBrief, ...] = ()


class Event(NamedTuple):
    """One recorded transition (``n`` is set for a video's).

    Besides states, ``to_state`` can be ``replaced`` (this version stopped being current: the spec's
    content changed; ``detail`` is the new content hash), ``current`` (an earlier version became current
    again because the spec went back to its content) or, for a video, ``moved`` (its file was moved to
    ``detail``, so that another version's file never replaces it).

    ``at`` is on the clock of the machine that recorded the event; ``clock_offset`` is the server's clock minus
    that machine's, as its run measured it (None: unknown, e.g. an event recorded before the ledger kept it).
    """

    at: float
    job: int
    n: int | None
    from_state: str | None
    to_state: str
    detail: str | None
    clock_offset: float | None = None

    @property
    def server_at(self) -> float | None:
        """``at`` on the server's clock, or None when the recording run's offset is unknown."""
        return None if self.clock_offset is None else self.at + self.clock_offset


class ReconciledJob(NamedTuple):
    """A job of the spec (or an orphan of the ledger) and what the ledger says about it."""

    job_id: str
    disposition: Disposition
    planned: PlannedJob | None
    record: JobRecord | None


@dataclass(frozen=True)
class Reconciliation:
    """The spec compared with the ledger: spec jobs in spec order, then ledger jobs the spec dropped."""

    jobs: list[ReconciledJob]
    orphaned: list[ReconciledJob]

    @property
    def counts(self) -> dict[Disposition, int]:
        """How many jobs in each disposition (orphans included)."""
        return dict(Counter(item.disposition for item in (*self.jobs, *self.orphaned)))


def disposition(planned: PlannedJob, record: JobRecord | None) -> Disposition:
    """What a spec job's current ledger version means for ``plan`` and ``run``."""
    if record is None:
        return Disposition.NEW
    if record.content_hash != planned.content_hash:
        return Disposition.CHANGED
    match record.state:
        case JobState.PLANNED:
            return Disposition.NEW
        case JobState.SUBMITTING | JobState.SUBMITTED:
            return Disposition.IN_FLIGHT
        case JobState.IN_DOUBT:
            return Disposition.IN_DOUBT
        case JobState.FAILED:
            return Disposition.FAILED
    states = {video.state for video in record.videos}
    if VideoState.FAILED in states:
        return Disposition.FAILED
    return Disposition.IN_FLIGHT if states - {VideoState.DOWNLOADED} else Disposition.DONE


@dataclass(frozen=True)
class LockHolder:
    """Who holds a campaign's run lock: for ``plan``, ``status``, ``ledger locks`` and ``doctor``."""

    campaign: str
    host: str | None
    pid: int | None
    user: str | None
    run_id: str | None
    since: float | None  # seconds since the epoch
    heartbeat_age: float | None  # seconds since the holder last showed it is alive
    stale: bool = False
    timeout: float | None = None  # the holder's own lock timeout: stale past it (shared ledger)

    def describe(self) -> str:
        """One line: ``user@host (pid N) since <UTC time>``, and whether it is stale."""
        import datetime as dt

        when = dt.datetime.fromtimestamp(self.since, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if self.since else "?"
        who = f"{self.user or '?'}@{self.host or '?'} (pid {self.pid or '?'}, run {self.run_id or '?'}) since {when}"
        if self.heartbeat_age is not None:
            who += f", last heartbeat {self.heartbeat_age:.0f} s ago"
            if self.timeout is not None:
                who += f" (its timeout: {self.timeout:.0f} s)"
        return who + (" (stale: may be taken over)" if self.stale else "")

    def to_json(self) -> dict[str, Any]:
        """As JSON (``since`` in ISO 8601)."""
        import datetime as dt

        since = dt.datetime.fromtimestamp(self.since, dt.UTC).isoformat() if self.since else None
        return {"campaign": self.campaign, "host": self.host, "pid": self.pid, "user": self.user,
                "runId": self.run_id, "since": since, "heartbeatAge": self.heartbeat_age, "stale": self.stale,
                "timeout": self.timeout}
