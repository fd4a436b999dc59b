"""What every stage of a run shares: the ledger, the client, the output folder, the options, the progress and
whether the run is stopping; and the two outcomes every stage records the same way (a failed job, a refused key)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from ..assets.staging import Stager
from ..client import AuthError, PhotoGPTClient
from ..errors import RunAborted
from ..ledger import Ledger
from ..spend.budget import SpendPreview
from .progress import Progress


def key_refused(exc: AuthError) -> NoReturn:
    """The API refused the key mid-run: every stage ends the run the same way, sending nothing more."""
    raise RunAborted(f"the API refused the key: {exc.message}") from exc


@dataclass
class EngineOptions:
    """Limits and policies of a run."""

    concurrency: int = 4
    download_concurrency: int = 4
    retry_failed: bool = False
    resubmit_in_doubt: bool = False
    read_timeout: float = 60.0
    download_attempts: int = 6
    prepare_attempts: int = 3
    verify_files: bool = True
    #: Hash every downloaded file kept, ignoring the record of those already checked (`io.checked`), and
    #: record them afresh.
    rehash: bool = False
    poll_min_interval: float = 0.2
    poll_max_interval: float = 8.0
    poll_first_interval: float = 1.0  # until the first job is seen to finish and intervals can adapt
    prepare_first_estimate: float = 0.5  # seconds from create-download to ready, until measured
    in_doubt_settle_seconds: float = 120.0  # an in-doubt submission is judged by GET /jobs only after this
    #: The most the campaign may spend across all its runs (the lower of --max-credits and the spec's
    #: budget); None: no budget.
    max_credits: float | None = None
    #: Asked before the first POST with what the run is about to pay for; False sends nothing (the run ends
    #: with ``declined`` set), KeyboardInterrupt sends nothing (``interrupted``). None: no question.
    confirm: Callable[[SpendPreview], bool] | None = None
    #: Per-video prices the user states (``--price``), by price class as `spend.pricing.describe_class`
    #: names it: they price a class the run cannot learn (the API reports no credits yet).
    stated_prices: dict[str, float] = field(default_factory=dict)
    #: Learn prices from the other ledgers on this machine too (the campaign index lists them).
    prices_from_other_ledgers: bool = True


@dataclass
class RunContext:
    """One run's shared state, handed to each stage."""

    ledger: Ledger
    client: PhotoGPTClient
    output: Path
    options: EngineOptions
    progress: Progress
    stopping: bool = False
    #: Set with `stopping`: a submission waiting out a 429 (minutes, with Retry-After) is then not sent.
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    #: Stages the campaign's local files and signs them into each body sent (None: the campaign has none).
    stager: Stager | None = None
    #: The spec's sequences (name → job ids): the manifest lists those written (`sequences.state`).
    sequences: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Set once this run goes to fetch a job's files (its videos, its last frames; a file in the way is set aside):
    #: the views (the manifest, the review page) show files the ledger does not record, so they are then made
    #: again rather than kept by their fingerprints (`io.stamps`).
    files_changed: bool = False

    def stop(self) -> None:
        """Nothing new is to be sent or started."""
        self.stopping = True
        self.stop_event.set()

    async def job_failed(self, row: int, job_id: str, error: str, err: str | None = None, *,
                         shown: str | None = None, credits: float | None = None) -> None:
        """Record job version ``row`` as failed with ``error`` (``err``: the server's detail) and report it
        (``shown``: what the progress says, when shorter than ``error``)."""
        await self.ledger.mark_failed(row, error, err, credits=credits)
        self.progress.event("failed", job_id, shown or error)
