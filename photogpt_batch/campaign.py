"""The unit of work that leaves the spec layer: a validated job and the exact request it sends."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .assets import LocalAsset
    from .spec.diagnostics import Diagnostic


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text, so it can be hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(body: dict[str, Any]) -> str:
    """The identity of a job's content: sha256 of its request body's canonical JSON."""
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PlannedJob:
    """A valid job: its id in the campaign, its model, and the exact ``POST /videos/generation`` body."""

    id: str
    model: str
    body: dict[str, Any]
    content_hash: str
    warnings: tuple[str, ...] = ()
    #: The matrix values that made this job, as (axis, text) pairs: what ``--only ratio=9:16`` matches.
    axes: tuple[tuple[str, str], ...] = ()

    @property
    def num_videos(self) -> int:
        """How many videos the job asks for (the API's default is 1)."""
        return int(self.body.get("numVideos", 1))


@dataclass(frozen=True, slots=True)
class Need:
    """One job's need of another: ``job`` must be done (generated, its videos downloaded) before the job
    that needs it is submitted; with ``picked``, it must also be picked in the review."""

    job: str
    picked: bool = False
    #: How the need was written: ``"needs"`` (the job's ``needs:``) or ``"from"`` (an output used as an input,
    #: ``referenceImages: [{from: ...}]``, which implies the need).
    via: str = "needs"


@dataclass
class Campaign:
    """A loaded, expanded and validated campaign spec."""

    name: str
    output: Path
    spec_path: Path
    jobs: list[PlannedJob] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)  # warnings only: errors raise SpecError
    #: Ids of the spec's jobs left out by ``--only`` (see `spec.selection.select_jobs`): untouched, reported as skipped.
    skipped: list[str] = field(default_factory=list)
    #: The spec's ``budget.credits``: the most the campaign may spend across all its runs (None: no budget).
    budget_credits: float | None = None
    #: The local files the jobs reference (``file:``), by sha256: what a run stages on the object store.
    assets: dict[str, LocalAsset] = field(default_factory=dict)
    #: The spec's ``sequences:``: each name's job ids, in order, whose videos are joined into
    #: ``<output>/sequences/<name>.mp4``.
    sequences: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: What each job needs first (``needs:`` and ``from:``), for the jobs that need anything: the campaign is a
    #: graph whose other jobs are independent. Checked at load: every need names a job of the spec, no cycles.
    needs: dict[str, tuple[Need, ...]] = field(default_factory=dict)
