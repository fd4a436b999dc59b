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
from typing import Any

from .durable import fsync_dir

MANIFEST = "manifest.jsonl"


def entry_line(entry: dict[str, Any]) -> str:
    """One manifest line (compact JSON, newline-terminated)."""
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"


def append(output: Path, entry: dict[str, Any]) -> None:
    """Append one video's entry to the manifest."""
    with open(output / MANIFEST, "a", encoding="utf-8") as f:
        f.write(entry_line(entry))


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


def read(output: Path) -> list[dict[str, Any]]:
    """The manifest's entries (lines that are not JSON objects are skipped)."""
    path = output / MANIFEST
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            entries.append(value)
    return entries
