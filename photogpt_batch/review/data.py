"""What the review page shows, as plain JSON-ready data: the campaign's jobs, their axes, states and files."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from ..campaign import Campaign, PlannedJob
from ..layout import last_frame_path, last_frame_saved
from ..ledger import Disposition, JobRecord, JobState, Ledger, VideoState, disposition
from ..ledger.versions import numbered, unfinished
from .lineage import add_lineage, sequence_tiles
from .picks import recorded_picks

#: The axis every campaign has: the job's model. Matrix keys follow, in the order the spec first uses them.
MODEL_AXIS = "model"
#: The value of an axis for a job whose matrix does not have it (a job without a matrix, another entry's key).
NO_VALUE = "—"
#: The page data's format (its ``format`` key).
FORMAT = 1

#: What each disposition is called on a tile.
STATE_LABELS = {
    Disposition.NEW: "not submitted",
    Disposition.CHANGED: "changed since it ran",
    Disposition.IN_FLIGHT: "in flight",
    Disposition.DONE: "done",
    Disposition.FAILED: "failed",
    Disposition.IN_DOUBT: "in doubt",
}


def campaign_axes(jobs: list[PlannedJob]) -> list[str]:
    """``model`` then every matrix key of the jobs, in first-seen order."""
    axes = [MODEL_AXIS]
    for job in jobs:
        for name, _ in job.axes:
            if name not in axes:
                axes.append(name)
    return axes


def _safe_relative(path: str | None) -> str | None:
    """A ledger path usable as a relative link from the output folder (never absolute, never ``..``)."""
    if not path:
        return None
    parts = path.split("/")
    if "" not in parts and "." not in parts and ".." not in parts:
        # Already relative and in normal form (as the tool writes them): no PurePosixPath for each of 20,000 videos.
        return path
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        return None
    return pure.as_posix()


def _is_file(output: Path, rel: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(os.path.join(output, rel)).st_mode)
    except OSError:
        return False


def _options(body: dict[str, Any]) -> dict[str, Any]:
    """What the tile lists under the prompt: the model's options (flat, as the spec writes them) and the
    request's other fields (how many videos, references, elements)."""
    shown: dict[str, Any] = {}
    groups = body.get("options")
    if isinstance(groups, dict):
        for group in groups.values():
            if isinstance(group, dict):
                shown.update(group)
    for key in ("numVideos", "elementIDs"):
        if key in body:
            shown[key] = body[key]
    for key in ("referenceImages", "referenceVideos"):
        references = body.get(key)
        if isinstance(references, list):
            # "first_frame https://..." per reference: easier to read on a tile than the request's objects.
            shown[key] = [f"{r.get('role', '')} {r.get('url', '')}".strip() if isinstance(r, dict) else r
                          for r in references]
    return shown


def _videos(output: Path, record: JobRecord) -> list[dict[str, Any]]:
    videos = []
    for video in record.videos:
        rel = _safe_relative(video.path) if video.state == VideoState.DOWNLOADED else None
        on_disk = rel is not None and _is_file(output, rel)
        state = str(video.state) if rel is None or on_disk else "missing"
        videos.append({
            "n": video.n,
            "state": state,
            "src": rel if on_disk else None,
            "lastFrame": last_frame_path(rel) if on_disk and rel and last_frame_saved(output, rel) else None,
            "error": video.error,
        })
    return videos


def _earlier(output: Path, versions: list[tuple[int, JobRecord]]) -> list[dict[str, Any]]:
    """A job's earlier versions (the spec has changed since), oldest first: each one that was sent is followed
    to its end, so the page shows its state, credits and files (in ``<job-id>/v<k>/``) until then and after."""
    return [{"version": k, "ledgerState": str(r.state), "finished": not unfinished(r), "credits": r.credits,
             "error": r.error if r.state in (JobState.FAILED, JobState.IN_DOUBT) else None,
             "videos": _videos(output, r)} for k, r in versions if r.remote_id or r.state != JobState.PLANNED]


def _job(output: Path, planned: PlannedJob, disposition: Disposition, record: JobRecord | None,
         earlier: list[tuple[int, JobRecord]]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": planned.id,
        "model": planned.model,
        "axes": {MODEL_AXIS: planned.model, **dict(planned.axes)},
        "prompt": planned.body.get("prompt", ""),
        "options": _options(planned.body),
        "state": str(disposition),
        "stateLabel": STATE_LABELS.get(disposition, str(disposition)),
        "ledgerState": None,
        "error": None,
        "credits": None,
        "videos": [],
        "earlierVersions": _earlier(output, earlier),
    }
    if record is not None:
        entry.update({
            "ledgerState": str(record.state),
            "error": record.error if record.state in (JobState.FAILED, JobState.IN_DOUBT) else None,
            "credits": record.credits,
            "videos": _videos(output, record),
        })
        if disposition == Disposition.CHANGED and entry["videos"]:
            entry["stateLabel"] = "changed since it ran: the videos shown are from the earlier request"
    return entry


def _history(current: list[JobRecord], earlier: list[JobRecord]) -> dict[str, list[tuple[int, JobRecord]]]:
    """Per spec job, its earlier versions with their numbers, oldest first (``current``: the current records of
    the spec's jobs that have earlier versions)."""
    numbers = numbered([*earlier, *current])
    shown = {r.job_id for r in current}
    history: dict[str, list[tuple[int, JobRecord]]] = {}
    for record in earlier:
        if record.job_id in shown:
            history.setdefault(record.job_id, []).append((numbers[record.row], record))
    return history


class PageData:
    """What the page shows, in the page data's key order, with the jobs as an iterator: the page is written while
    they are built, one at a time (a list of 20,000 entries, and its JSON, held at once cost tens of MB).

    ``head`` holds the keys before ``jobs``; `tail` the keys after it, known once ``jobs`` has been read through
    (the totals are counted on the way)."""

    def __init__(self, campaign: Campaign, ledger: Ledger):
        self._campaign, self._ledger = campaign, ledger
        axes = campaign_axes(campaign.jobs)
        self.head: dict[str, Any] = {"format": FORMAT, "campaign": campaign.name, "axes": axes}
        self._picks = recorded_picks(ledger)
        self._count = self._videos = 0
        self._credits: list[float] = []
        self._states: Counter[str] = Counter()
        self.jobs: Iterator[dict[str, Any]] = self._counted(self._entries(axes))

    def _entries(self, axes: list[str]) -> Iterator[dict[str, Any]]:
        campaign, ledger = self._campaign, self._ledger
        output = campaign.output
        # The spec's jobs with their records, read a chunk at a time (at 100,000 jobs, every record held at once
        # was the end of a fresh run's peak of memory); the earlier versions are few, and read whole.
        earlier = ledger.replaced()
        changed = {r.job_id for r in earlier}
        history = _history([r for _, r in ledger.iter_records_of([j for j in campaign.jobs if j.id in changed])
                            if r is not None], earlier)
        entries = (_fill_axes(_job(output, job, disposition(job, record), record, history.get(job.id, [])), axes)
                   for job, record in ledger.iter_records_of(campaign.jobs))
        if campaign.needs:
            # Lineage: links between tiles, chains kept together in chain order (see `lineage`): it needs them all.
            yield from add_lineage(campaign, list(entries), self._picks)
        else:
            yield from entries

    def _counted(self, jobs: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for job in jobs:
            self._count += 1
            self._videos += sum(1 for v in job["videos"] if v["src"])
            if job["credits"] is not None:
                self._credits.append(job["credits"])
            self._states[job["state"]] += 1
            yield job

    def tail(self) -> dict[str, Any]:
        """The keys after ``jobs``: call it once ``jobs`` has been read through."""
        campaign, ledger = self._campaign, self._ledger
        return {
            "totals": {
                "jobs": self._count,
                "videos": self._videos,
                "credits": sum(self._credits) if self._credits else None,
                "states": dict(self._states),
            },
            "picks": self._picks,
            # Only a campaign with sequences reads the ledger's files for them.
            "sequences": sequence_tiles(campaign, ledger.manifest_entries()) if campaign.sequences else [],
        }


#: How `campaign_digest` writes each value: one encoder made once (``json.dumps`` with options makes one a call).
_DIGEST_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: Jobs written into the digest at a time: one JSON line for 500 jobs costs little more than one for one.
_DIGEST_CHUNK = 500


def campaign_digest(campaign: Campaign) -> str:
    """A digest of the campaign as the page shows it (for the page's fingerprint, `page.page_stamp`): its name, each
    job's id, model, content (the request it sends: prompt, options) and axes, the jobs left out, the sequences
    and the needs. Everything else the page shows comes from the ledger or from files. About 20 ms for 20,000
    jobs, hashed `_DIGEST_CHUNK` jobs at a time (the text of 100,000 jobs' fields at once was 40 MB at the end of
    a run)."""
    digest = hashlib.sha256()

    def add(value: Any) -> None:
        # One JSON value a line (JSON text has no raw newline): the parts cannot run into each other.
        digest.update(_DIGEST_JSON.encode(value).encode("utf-8") + b"\n")

    jobs = campaign.jobs
    add([campaign.name, len(jobs)])
    for first in range(0, len(jobs), _DIGEST_CHUNK):
        add([(job.id, job.model, job.content_hash, job.axes) for job in jobs[first:first + _DIGEST_CHUNK]])
    add(campaign.skipped)
    add(campaign.sequences)
    add({job: [[need.job, need.picked, need.via] for need in needs] for job, needs in campaign.needs.items()})
    return digest.hexdigest()


def _fill_axes(job: dict[str, Any], axes: list[str]) -> dict[str, Any]:
    for axis in axes:
        job["axes"].setdefault(axis, NO_VALUE)
    return job


def review_page_data(campaign: Campaign, ledger: Ledger) -> dict[str, Any]:
    """Everything the page shows about ``campaign``, from its ``ledger`` and the files in its output folder (as
    one dict: the page itself is written from `PageData`, streamed)."""
    data = PageData(campaign, ledger)
    jobs = list(data.jobs)
    return {**data.head, "jobs": jobs, **data.tail()}
