"""Configuration of the sandbox: timings, sizes and the faults it injects."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

# Route keys are "METHOD /pattern", relative to the API's /api prefix. They name request-level fault targets
# and the entries of Counters.requests.
API_ROUTES: tuple[str, ...] = (
    "GET /ping",
    "POST /videos/generation",
    "GET /jobs",
    "GET /jobs/{id}",
    "GET /videos",
    "GET /videos/{id}",
    "GET /videos/{id}/create-download",
    "GET /videos/{id}/download",
)

LOST_POST_MODES = ("error", "drop", "mixed")

# The faults that have a rate and an nth trigger, in the order their fields are declared.
FAULT_KINDS: tuple[str, ...] = (
    "fail",
    "rate_limit",
    "server_error",
    "html_error",
    "lost_post",
    "slow",
    "truncate",
    "expired_url",
    "download_error",
)

# Request-level faults can be limited to some routes; the others apply to one kind of event each.
ROUTED_FAULT_KINDS: tuple[str, ...] = ("rate_limit", "server_error", "html_error", "slow")


def _int_tuple(value: Iterable[int] | int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,)
    return tuple(value)


@dataclass(frozen=True)
class Faults:
    """Which faults the sandbox injects, and when.

    Each fault kind fires on an event with probability ``<kind>_rate`` (drawn from the seeded RNG, so a run is
    repeatable), and always on the events whose 1-based ordinal is listed in ``<kind>_nth``. Ordinals count
    the events a fault can apply to, since the sandbox started or since ``Sandbox.set_faults``:

    - ``fail``: jobs created (the job ends ``failed`` with ``fail_message``);
    - ``rate_limit``, ``server_error``, ``html_error``, ``slow``: authenticated API requests to the routes in
      ``<kind>_routes`` (every API route when empty); each kind counts every such request, whether or not
      another fault answered it;
    - ``lost_post``: accepted ``POST /videos/generation`` requests (the job is created, then the response is
      a 500 NOK or the connection is dropped, as ``lost_post_mode`` says);
    - ``truncate``: video file GETs (the body stops early while ``Content-Length`` announced all of it);
    - ``expired_url``: ``/download`` answers with status ``ready`` (the URL is already expired);
    - ``download_error``: ``create-download`` calls that start a preparation (it ends with status ``error``).
    """

    fail_rate: float = 0.0
    fail_nth: tuple[int, ...] = ()
    fail_message: str = "generation failed: the model could not render this prompt"

    rate_limit_rate: float = 0.0
    rate_limit_nth: tuple[int, ...] = ()
    rate_limit_routes: tuple[str, ...] = ()
    retry_after_seconds: int = 1

    server_error_rate: float = 0.0
    server_error_nth: tuple[int, ...] = ()
    server_error_routes: tuple[str, ...] = ()
    server_error_status: int = 500

    html_error_rate: float = 0.0
    html_error_nth: tuple[int, ...] = ()
    html_error_routes: tuple[str, ...] = ()
    html_error_status: int = 502

    lost_post_rate: float = 0.0
    lost_post_nth: tuple[int, ...] = ()
    lost_post_mode: str = "mixed"
    #: The status of a lost POST's error answer (``lost_post_mode`` ``error``): 500, or 502 as a proxy says.
    lost_post_status: int = 500

    slow_rate: float = 0.0
    slow_nth: tuple[int, ...] = ()
    slow_routes: tuple[str, ...] = ()
    slow_seconds: float = 1.0

    truncate_rate: float = 0.0
    truncate_nth: tuple[int, ...] = ()

    expired_url_rate: float = 0.0
    expired_url_nth: tuple[int, ...] = ()

    download_error_rate: float = 0.0
    download_error_nth: tuple[int, ...] = ()

    odd_case_status: bool = False
    #: ``GET /jobs`` reports ``credits: null`` for every job (credits not computed yet, or never).
    no_credits: bool = False

    def __post_init__(self) -> None:
        for kind in FAULT_KINDS:
            rate = getattr(self, f"{kind}_rate")
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{kind}_rate must be between 0 and 1, got {rate}")
            nth = _int_tuple(getattr(self, f"{kind}_nth"))
            if any(n < 1 for n in nth):
                raise ValueError(f"{kind}_nth ordinals start at 1, got {nth}")
            object.__setattr__(self, f"{kind}_nth", nth)
        for kind in ROUTED_FAULT_KINDS:
            routes = getattr(self, f"{kind}_routes")
            routes = (routes,) if isinstance(routes, str) else tuple(routes)
            unknown = [r for r in routes if r not in API_ROUTES]
            if unknown:
                # A typo here would silently disable the fault a test relies on.
                raise ValueError(
                    f"{kind}_routes: unknown route {unknown[0]!r}; known: {', '.join(API_ROUTES)}"
                )
            object.__setattr__(self, f"{kind}_routes", routes)
        if not 500 <= self.lost_post_status <= 599:
            raise ValueError(f"lost_post_status must be a 5xx status, got {self.lost_post_status}")
        if self.lost_post_mode not in LOST_POST_MODES:
            raise ValueError(f"lost_post_mode must be one of {', '.join(LOST_POST_MODES)}")
        if self.slow_seconds < 0 or self.retry_after_seconds < 0:
            raise ValueError("slow_seconds and retry_after_seconds must not be negative")

    def rate(self, kind: str) -> float:
        """The probability of fault ``kind`` on one of its events."""
        return float(getattr(self, f"{kind}_rate"))

    def nth(self, kind: str) -> tuple[int, ...]:
        """The ordinals on which fault ``kind`` always fires."""
        return tuple(getattr(self, f"{kind}_nth"))

    def routes(self, kind: str) -> tuple[str, ...]:
        """The routes a request-level fault applies to (empty: all API routes)."""
        return tuple(getattr(self, f"{kind}_routes", ()))

    def active(self) -> dict[str, Any]:
        """The fields that differ from the defaults, for logs and the CLI banner."""
        default = Faults()
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }


class ManualClock:
    """A clock for tests: time stands still until ``advance`` is called.

    Pass it as ``SandboxConfig(clock=ManualClock())``; job phases, download preparation and URL expiry all
    read it, so a test can move a job to ``success`` or expire a URL without waiting.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds


@dataclass
class SandboxConfig:
    """Timings, sizes and faults of one sandbox.

    ``generation_seconds`` is the (min, max) range from which each job's running time is drawn (seeded by
    ``seed``); a job is ``created`` for ``created_seconds``, ``queued`` for ``queue_seconds``, ``running``
    for its generation time, then ``success`` or ``failed``. ``prepare_seconds`` is how long a download
    preparation takes.
    ``video_bytes`` is the size of every video file (never below the size of its clip: padding fills the rest).
    ``render_videos`` draws each request into its videos (`picture`: ratio, duration, model, prompt), and the
    last frames are those videos' last pictures; off, every video is the same shipped 1 s clip and last frames
    are plain colours (benchmarks use that: the sandbox's CPU then stays out of the tool's measurements).
    ``clock`` returns Unix time in seconds; the default is ``time.time``.
    ``state_file``, when set, keeps the jobs across restarts: each job is appended to it as it is created and
    the file is read back on start (download preparations and signed URLs are not kept: clients ask again).
    ``accept_models`` maps model ids the sandbox does not know to their option group: their requests are
    checked for the envelope and ``options.<group>`` only (a plugin author's rehearsal of a new model).
    """

    seed: int = 0
    api_key: str | None = None
    generation_seconds: tuple[float, float] = (0.5, 2.0)
    queue_seconds: float = 0.05
    created_seconds: float = 0.0
    prepare_seconds: float = 0.3
    video_bytes: int = 200_000
    render_videos: bool = True
    url_ttl_seconds: float = 600.0
    jobs_page_size: int = 50
    faults: Faults = field(default_factory=Faults)
    clock: Callable[[], float] = time.time
    url_secret: bytes | None = None
    state_file: Path | None = None
    accept_models: dict[str, str] = field(default_factory=dict)
    #: Fetch each job's reference URLs when it starts running, as the API does: one that cannot be fetched,
    #: has expired or is not an image or video fails the job. Off by default: the example specs name
    #: documentation URLs (example.com) that nothing serves.
    fetch_references: bool = False

    def __post_init__(self) -> None:
        gen = self.generation_seconds
        if isinstance(gen, int | float):
            gen = (float(gen), float(gen))
        low, high = (float(v) for v in gen)
        if low < 0 or high < low:
            raise ValueError(f"generation_seconds must be (min, max) with 0 <= min <= max, got {gen}")
        self.generation_seconds = (low, high)
        for name in ("queue_seconds", "created_seconds", "prepare_seconds", "url_ttl_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.video_bytes < 0:
            raise ValueError("video_bytes must not be negative")
        if self.jobs_page_size < 1:
            raise ValueError("jobs_page_size must be at least 1")

    @classmethod
    def quick(cls, **overrides: Any) -> SandboxConfig:
        """A demo preset: jobs finish in under a second, downloads are ready in 0.2 s, files are small."""
        base = cls(generation_seconds=(0.3, 0.8), queue_seconds=0.05, prepare_seconds=0.2, video_bytes=50_000)
        return replace(base, **overrides)
