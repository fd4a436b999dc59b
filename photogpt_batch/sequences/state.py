"""Where each sequence stands: waiting for jobs, ready to be (re)built, or built from its clips as they are.

A sequence's clips are video 1 of each job's current version, as the ledger records it downloaded and as it
is on disk (a regular file of the recorded size). Beside ``sequences/<name>.mp4`` lies ``<name>.json``, the
record of what it was built from (each clip's sha256 from the ledger): the sequence is up to date when that
record names exactly the clips of now and the file it describes is there.

Pure: files and JSON only (no PyAV), so ``status`` can read it.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..layout import sequence_path, sequence_record_path, video_path


@dataclass(frozen=True, slots=True)
class Clip:
    """One job's clip in a sequence: its video 1, relative to the output folder, with the ledger's sha256."""

    job: str
    path: str
    bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class SequenceState:
    """One sequence as things stand: its jobs, the clips of those that are done, and its record, if any."""

    name: str
    jobs: tuple[str, ...]
    clips: tuple[Clip, ...]
    #: The jobs whose current version's video 1 is not (yet) downloaded, in the sequence's order.
    waiting: tuple[str, ...]
    #: What ``sequences/<name>.json`` says the file on disk was built from (None: no intact sequence file).
    record: dict[str, Any] | None

    @property
    def path(self) -> str:
        """The sequence's file, relative to the output folder."""
        return sequence_path(self.name)

    @property
    def ready(self) -> bool:
        """Every job is done: the sequence can be built."""
        return not self.waiting

    @property
    def up_to_date(self) -> bool:
        """The file on disk was built from exactly the clips of now."""
        return self.ready and self.record is not None and self.record.get("clips") == [c.sha256 for c in self.clips]


    @property
    def standing(self) -> str:
        """In a word: ``built`` (from the clips of now), ``waiting`` (for jobs), ``outdated`` (a clip changed since
        it was built) or ``unbuilt`` (ready; the next run writes it)."""
        if not self.ready:
            return "waiting"
        if self.up_to_date:
            return "built"
        return "outdated" if self.record is not None else "unbuilt"

    def describe(self) -> str:
        """What ``status`` says of it."""
        if not self.ready:
            return f"waiting for {', '.join(self.waiting)}"
        if self.up_to_date:
            return f"built {self.path}"
        if self.record is not None:
            return f"{self.path} is out of date (a clip changed); the next run builds it again"
        return "every job is done; the next run writes it"


def _regular_of_size(path: Path, size: int) -> bool:
    """Whether ``path`` is a regular file (not a link) of ``size`` bytes."""
    try:
        found = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(found.st_mode) and found.st_size == size


def read_record(output: Path, name: str) -> dict[str, Any] | None:
    """The record of sequence ``name``, when it and the file it describes are intact; else None."""
    record_file = output / sequence_record_path(name)
    try:
        if not stat.S_ISREG(record_file.lstat().st_mode):
            return None
        record = json.loads(record_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("path") != sequence_path(name):
        return None
    size = record.get("bytes")
    if not isinstance(size, int) or not _regular_of_size(output / sequence_path(name), size):
        return None
    return record


def sequence_states(output: Path, sequences: Mapping[str, tuple[str, ...]],
                    entries: Iterable[Mapping[str, Any]]) -> list[SequenceState]:
    """Each sequence's state, in the spec's order; ``entries`` are the ledger's manifest entries."""
    firsts: dict[str, Clip] = {}
    for entry in entries:
        job = entry["job"]
        if entry.get("current") and entry.get("path") == video_path(job, 1):
            firsts[job] = Clip(job, entry["path"], int(entry["bytes"]), str(entry["sha256"]))
    states = []
    for name, jobs in sequences.items():
        done = {job: firsts[job] for job in jobs
                if job in firsts and _regular_of_size(output / firsts[job].path, firsts[job].bytes)}
        waiting = tuple(dict.fromkeys(job for job in jobs if job not in done))
        clips = tuple(done[job] for job in jobs) if not waiting else ()
        states.append(SequenceState(name, tuple(jobs), clips, waiting, read_record(output, name)))
    return states


def manifest_lines(output: Path, sequences: Mapping[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    """The manifest's line for each sequence whose file is on disk: ``sequence``, ``path``, ``bytes``,
    ``sha256`` and ``jobs``."""
    lines = []
    for name in sequences:
        record = read_record(output, name)
        if record is not None:
            lines.append({"sequence": name, "path": record["path"], "bytes": record["bytes"],
                          "sha256": record.get("sha256"), "jobs": record.get("jobs")})
    return lines
