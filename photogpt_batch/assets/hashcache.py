"""A cache of files' sha256, keyed by path and stat fingerprint (size, mtime, device, inode and ctime), in the
user's state folder: a rerun of a campaign with 2,000 photos reads none of them again unless one changed.

The ctime is what makes it safe, as for the record of checked downloads (`io.checked`): any change to a file moves
it, even one that puts the old size and mtime back, and no program can set it back. A file is kept in the cache only
if its ctime is older than the file system's clock read when the cache was opened, before the file's stat was taken
(`io.fsclock`): a change in the same clock tick cannot hide behind it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..io.fsclock import Clock, fingerprint, read_clock, settled

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
    """sha256 by resolved path and stat fingerprint. ``folder`` None: no cache (every file is read).

    The cache is only ever a shortcut: a damaged or unwritable file is ignored, never an error."""

    def __init__(self, folder: Path | None):
        self.file = folder / CACHE_FILE if folder is not None else None
        self._entries: dict[str, list[Any]] | None = None  # read at the first look-up: most specs have no files
        self._dirty = False
        self.hashed = 0  # files actually read this time (what the benchmark and tests look at)
        #: The file system's clock when the cache was opened, before any file was looked at (None: nothing new is
        #: kept, only what the cache holds is used).
        self._clock: Clock | None = None
        if folder is not None:
            with contextlib.suppress(OSError):
                folder.mkdir(parents=True, exist_ok=True)
                self._clock = read_clock(folder)

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
        """The sha256 of ``path`` (whose ``stat``, taken before it is read, the caller has), from the cache when its
        stat fingerprint is the one recorded with it."""
        entries = self._loaded()
        key = str(path.resolve())
        entry = entries.get(key)
        found = list(fingerprint(stat))
        # An entry is [sha256, *fingerprint]; one of an earlier release ([size, mtime, sha256]) is read again.
        if isinstance(entry, list) and entry[1:] == found and isinstance(entry[0], str):
            return entry[0]
        digest = file_sha256(path)
        self.hashed += 1
        if self._clock is not None and settled(stat.st_dev, stat.st_ctime_ns, self._clock):
            entries[key] = [digest, *found]
            self._dirty = True
        else:  # changed too recently to tell a later change apart, or no clock: hashed again next time
            self._dirty = entries.pop(key, None) is not None or self._dirty
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
