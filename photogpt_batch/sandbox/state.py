"""The sandbox's world: jobs, videos, images and download preparations, computed from the clock.

Nothing runs in the background: a job stores the times of its phase changes when it is created, and its status
is read off the clock when someone asks. A thousand idle jobs cost a thousand small records and no CPU.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import dataclasses
import json
import math
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .config import SandboxConfig
from .faults import FaultPlan, draw
from .validation import Generation

TERMINAL = ("success", "failed")

# What `odd_case_status` turns each status into: a client must compare statuses case-insensitively.
ODD_CASE = {
    "created": "CREATED",
    "queued": "Queued",
    "running": "Running",
    "success": "SUCCESS",
    "failed": "Failed",
}

# Credits per rendered second, per model: the sandbox's invented price list (the vendor publishes none).
CREDITS_PER_SECOND: dict[str, int] = {
    "veo-3.1": 10,
    "veo-3.1-fast": 5,
    "seedance-1.5-pro": 3,
    "seedance-2.0": 4,
    "kling-video-standard": 2,
    "kling-video-pro": 4,
    "kling-motion-standard": 3,
    "kling-motion-pro": 5,
    "grok-imagine-1.5": 2,
}


#: The rate of a model the sandbox was told to accept (``--accept-model``): it has no price of its own.
ACCEPTED_CREDITS_PER_SECOND = 1
#: Output resolutions that cost more than the base rate (draft mode renders 480p, so it bills as 480p).
RESOLUTION_FACTOR: dict[str, int] = {"1080p": 2}


def credits_for(generation: Generation) -> int:
    """Credits of a job: rate of the model x billed seconds x resolution factor x numVideos (a failed job is
    refunded to 0). Written from the sandbox's own price list, not from any client code: equal inputs (one
    price class) always cost the same per video. A model accepted with ``--accept-model`` bills
    `ACCEPTED_CREDITS_PER_SECOND`."""
    rate = CREDITS_PER_SECOND.get(generation.model_id, ACCEPTED_CREDITS_PER_SECOND)
    factor = RESOLUTION_FACTOR.get(generation.resolution or "", 1)
    return rate * generation.seconds * factor * generation.num_videos


def rfc3339(timestamp: float) -> str:
    """Unix seconds as RFC 3339 UTC with milliseconds, e.g. ``2025-01-31T12:00:00.250Z``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_rfc3339(text: str) -> float:
    """RFC 3339 text (an offset or Z is required) as Unix seconds; ValueError otherwise."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("an RFC 3339 time needs a time zone offset or Z")
    return parsed.timestamp()


@dataclass
class Job:
    """One generation job and the times at which it changes phase."""

    job_id: str
    ordinal: int
    model_id: str
    body: dict[str, Any]
    created_at: float
    queued_at: float
    running_at: float
    finished_at: float
    fails: bool
    error_message: str | None
    credits: int
    output_resolution: str | None
    video_ids: list[str] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)
    #: Its references are being fetched (`references`): it cannot finish before that ends.
    fetching: bool = False
    #: The first_frame image fetched for it (PNG, JPEG or WebP bytes): its videos start from it.
    first_frame: bytes | None = None

    def status_at(self, now: float) -> str:
        """The job's status at time ``now``."""
        if now >= self.finished_at and self.fetching:
            return "running"
        if now >= self.finished_at:
            return "failed" if self.fails else "success"
        if now >= self.running_at:
            return "running"
        if now >= self.queued_at:
            return "queued"
        return "created"

    def updated_at(self, now: float) -> float:
        """When the status last changed, as seen at ``now``."""
        times = (self.created_at, self.queued_at, self.running_at, self.finished_at)
        return max(t for t in times if t <= now) if now >= self.created_at else self.created_at

    def succeeded(self, now: float) -> bool:
        """Whether the job has finished with videos at ``now``."""
        return not self.fails and now >= self.finished_at


@dataclass
class Download:
    """A download preparation started by ``create-download``."""

    started_at: float
    ready_at: float
    fails: bool

    def status_at(self, now: float) -> tuple[str, int]:
        """``(status, percentComplete)`` at ``now``."""
        if now >= self.ready_at:
            return ("error" if self.fails else "ready"), 100
        span = self.ready_at - self.started_at
        return "inprogress", min(99, int(100 * (now - self.started_at) / span)) if span > 0 else 99


class PageTokenInvalid(ValueError):
    """A ``pageToken`` this sandbox did not issue."""


def encode_page_token(ordinal: int) -> str:
    """An opaque cursor: the listing resumes after the job with this ordinal."""
    return base64.urlsafe_b64encode(f"after:{ordinal}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    """The ordinal in a token from ``encode_page_token``; PageTokenInvalid otherwise."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "after" or not number.isdigit():
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise PageTokenInvalid(token) from exc


class World:
    """All server-side state; every method takes the current time from the config's clock."""

    def __init__(self, config: SandboxConfig, plan: FaultPlan) -> None:
        self.config = config
        self.plan = plan
        self.jobs: dict[str, Job] = {}
        self.videos: dict[str, tuple[Job, int]] = {}
        self.images: dict[str, tuple[Job, int]] = {}
        self.downloads: dict[str, Download] = {}
        # Jobs in creation order with their (non-decreasing) creation times, for ranged listings by bisection.
        self._order: list[Job] = []
        self._created: list[float] = []
        if config.state_file is not None:
            self._load(config.state_file)

    def _load(self, path: Path) -> None:
        """Read back the jobs an earlier sandbox recorded; a torn or damaged line (a crash mid-write, a stray
        byte) is skipped."""
        if not path.exists():
            return
        # Bytes, decoded line by line (json.loads' UnicodeDecodeError is a ValueError): one bad byte costs
        # one line, not the whole file.
        for line in path.read_bytes().splitlines():
            try:
                job = Job(**json.loads(line))
            except (ValueError, TypeError):
                continue
            job.ordinal = len(self._order) + 1
            self._add(job)

    def _add(self, job: Job) -> None:
        for index, video_id in enumerate(job.video_ids):
            self.videos[video_id] = (job, index)
        for index, image_id in enumerate(job.image_ids):
            self.images[image_id] = (job, index)
        self.jobs[job.job_id] = job
        self._order.append(job)
        self._created.append(job.created_at)

    def now(self) -> float:
        """The current time in Unix seconds."""
        return self.config.clock()

    def create_job(self, body: dict[str, Any], generation: Generation) -> Job:
        """Record a new job; its phases, outcome and ids are fixed now."""
        cfg = self.config
        ordinal = len(self._order) + 1
        # Truncated to milliseconds, as RFC 3339 output shows them (rounding up could put a new job after an
        # immediate "until now" listing), and never before the previous job.
        now = self.now()
        created = min(now, math.floor(now * 1000) / 1000)
        if self._created and created < self._created[-1]:
            created = self._created[-1]
        low, high = cfg.generation_seconds
        generation_time = low + (high - low) * draw(cfg.seed, "generation", ordinal)
        fails = self.plan.fires("fail")
        queued = created + cfg.created_seconds
        running = queued + cfg.queue_seconds
        job = Job(
            job_id=f"job_{secrets.token_hex(8)}",
            ordinal=ordinal,
            model_id=generation.model_id,
            body=body,
            created_at=created,
            queued_at=queued,
            running_at=running,
            finished_at=running + generation_time,
            fails=fails,
            error_message=cfg.faults.fail_message if fails else None,
            credits=0 if fails else credits_for(generation),
            output_resolution=generation.resolution,
        )
        if not fails:
            job.video_ids = [f"vid_{secrets.token_hex(8)}" for _ in range(generation.num_videos)]
            # One last frame per video: each video has its own last picture.
            job.image_ids = ([f"img_{secrets.token_hex(8)}" for _ in range(generation.num_videos)]
                             if generation.return_last_frame else [])
        self._add(job)
        if cfg.state_file is not None:
            # O_NOFOLLOW: the file sits in the user's output folder, where a planted link must not redirect it.
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(cfg.state_file, flags, 0o644)
            with open(fd, "a", encoding="utf-8") as f:
                f.write(json.dumps(dataclasses.asdict(job)) + "\n")
        return job

    def visible_video(self, video_id: str) -> tuple[Job, int] | None:
        """The video's job and index, if the job has succeeded by now."""
        found = self.videos.get(video_id)
        if found is None or not found[0].succeeded(self.now()):
            return None
        return found

    def visible_image(self, image_id: str) -> tuple[Job, int] | None:
        """The image's job and the index of the video whose last frame it is, if the job has succeeded by now."""
        found = self.images.get(image_id)
        return found if found is not None and found[0].succeeded(self.now()) else None

    def jobs_between(self, start: float, end: float, after: int, limit: int) -> tuple[list[Job], bool]:
        """Jobs created in ``[start, end]`` with ordinal > ``after``, oldest first; True if more follow."""
        lo = bisect.bisect_left(self._created, start)
        hi = bisect.bisect_right(self._created, end)
        # Ordinals are positions + 1, so the cursor is an index too.
        lo = max(lo, after)
        page = self._order[lo : min(hi, lo + limit)]
        return page, lo + limit < hi

    def finished_videos(self) -> list[tuple[Job, int, str]]:
        """Every visible video as (job, index, id), newest first."""
        now = self.now()
        out = [
            (job, index, video_id)
            for job in reversed(self._order)
            if job.succeeded(now)
            for index, video_id in enumerate(job.video_ids)
        ]
        out.sort(key=lambda item: item[0].finished_at, reverse=True)
        return out

    def start_download(self, video_id: str) -> bool:
        """Start preparing a download unless one is under way or ready; True when a new one started."""
        now = self.now()
        current = self.downloads.get(video_id)
        if current is not None and current.status_at(now)[0] != "error":
            return False
        fails = self.plan.fires("download_error")
        self.downloads[video_id] = Download(now, now + self.config.prepare_seconds, fails)
        return True
