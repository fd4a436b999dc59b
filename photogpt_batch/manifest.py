"""``<output>/manifest.jsonl``: one JSON object per downloaded video.

Lines are appended as videos land, so a reader can follow a run; at the end of every run the file is
rewritten from the ledger (the source of truth) and atomically replaced, so a crash between a download and
its manifest line never leaves the manifest short for long.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from .durable import fsync_dir

MANIFEST = "manifest.jsonl"


def entry_line(entry: dict[str, Any]) -> str:
    """One manifest line (compact JSON, newline-terminated)."""
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"


class Appender:
    """Appends entries to a manifest as videos land; the file is opened once, on the first entry."""

    def __init__(self, output: Path):
        self.path = output / MANIFEST
        self._file: IO[str] | None = None

    def append(self, entry: dict[str, Any]) -> None:
        """Append one video's entry (written through at once, so a reader following the file sees it)."""
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
        self._file.write(entry_line(entry))
        self._file.flush()

    def close(self) -> None:
        """Close the file, if it was opened."""
        if self._file is not None:
            self._file.close()
            self._file = None


def rewrite(output: Path, entries: Iterable[dict[str, Any]]) -> None:
    """Replace the manifest with exactly ``entries`` (write, fsync, rename)."""
    path = output / MANIFEST
    tmp = path.with_name(MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for entry in entries:
            f.write(entry_line(entry))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(output)
