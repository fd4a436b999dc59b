"""A cache of files' sha256, keyed by path, size and modification time, in the user's state folder: a
rerun of a campaign with 2,000 photos reads none of them again unless one changed."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

CACHE_FILE = "file-hashes.json"
_CHUNK = 1024 * 1024


def file_sha256(path: Path) -> str:
    """The sha256 of a file's content, read in chunks (a video may be hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class HashCache:
    """sha256 by (resolved path, size, mtime in ns). ``folder`` None: no cache (every file is read).

    The cache is only ever a shortcut: a damaged or unwritable file is ignored, never an error."""

    def __init__(self, folder: Path | None):
        self.file = folder / CACHE_FILE if folder is not None else None
        self._entries: dict[str, list[Any]] | None = None  # read at the first look-up: most specs have no files
        self._dirty = False
        self.hashed = 0  # files actually read this time (what the benchmark and tests look at)

    def _loaded(self) -> dict[str, list[Any]]:
        if self._entries is None:
            self._entries = {}
            if self.file is not None:
                with contextlib.suppress(OSError, ValueError):
                    loaded = json.loads(self.file.read_text(encoding="utf-8"))
                    if isinstance(loaded, dict):
                        self._entries = loaded
        return self._entries

    def sha256(self, path: Path, stat: os.stat_result) -> str:
        """The sha256 of ``path`` (whose ``stat`` the caller has), from the cache when size and mtime match."""
        entries = self._loaded()
        key = str(path.resolve())
        entry = entries.get(key)
        if isinstance(entry, list) and entry[:2] == [stat.st_size, stat.st_mtime_ns] and isinstance(entry[2], str):
            return entry[2]
        digest = file_sha256(path)
        self.hashed += 1
        entries[key] = [stat.st_size, stat.st_mtime_ns, digest]
        self._dirty = True
        return digest

    def save(self) -> None:
        """Write the cache if it changed (atomically: a concurrent reader sees the old file or the new)."""
        if self.file is None or not self._dirty:
            return
        with contextlib.suppress(OSError):
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f"{self.file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self._entries), encoding="utf-8")
            os.replace(tmp, self.file)
            self._dirty = False
