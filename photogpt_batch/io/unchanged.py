"""Replace a file the tool writes whole (the manifest, the review page) with new content given in pieces, unless
it already holds exactly that: a rerun of a finished campaign writes nothing (and so also works in a folder that
is read-only by now).

The pieces are compared with the file on disk as they come. Only at the first difference is a temporary file
opened, given the part that matched (copied from the old file) and the rest, then renamed into place: the content
is never held whole, in memory or twice (at 20,000 jobs, the manifest and the page are megabytes each).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from ..layout import tmp_path
from .durable import fsync_dir, open_owned

_BLOCK = 1 << 20


def replace_unless_same(path: Path, pieces: Iterable[bytes], *, durable: bool) -> bool:
    """Make ``path`` hold the concatenated ``pieces``; returns whether it was written. A link in its place is
    replaced, not followed or read. With ``durable``, the new file is fsynced before its rename and its folder
    after, and a file found the same is fsynced (lines appended to it may not have reached the disk yet).
    Raises `OSError` when it cannot be written."""
    old = _existing(path)
    out: BinaryIO | None = None
    tmp = tmp_path(path)
    matched = 0
    try:
        for data in pieces:
            if out is None and old is not None:
                try:
                    if old.read(len(data)) == data:
                        matched += len(data)
                        continue
                except OSError:
                    pass
            if out is None:
                out = _start_tmp(path, tmp, old, matched)
            out.write(data)
        if out is None:
            try:
                same = old is not None and old.read(1) == b""
            except OSError:
                same = False
            if same:
                assert old is not None
                if durable:
                    os.fsync(old.fileno())  # fsync works on a read-only descriptor too
                return False
            out = _start_tmp(path, tmp, old, matched)
        if durable:
            out.flush()
            os.fsync(out.fileno())
        out.close()
        os.replace(tmp, path)
        if durable:
            fsync_dir(path.parent)
        return True
    finally:
        for file in (old, out):
            if file is not None:
                file.close()


def _existing(path: Path) -> BinaryIO | None:
    """The file already at ``path``, open for reading, if it is a regular file (a link is replaced, not read)."""
    try:
        fd = open_owned(path, os.O_RDONLY)
    except OSError:  # missing, or a link (LinkRefused)
        return None
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)  # a folder opens too, and is not read
    except OSError:
        regular = False
    if not regular:
        os.close(fd)
        return None
    return open(fd, "rb")  # closed by replace_unless_same


def _start_tmp(path: Path, tmp: Path, old: BinaryIO | None, matched: int) -> BinaryIO:
    """The temporary file for ``path``, opened fresh, holding the ``matched`` bytes the old file began with."""
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.unlink(missing_ok=True)  # a leftover (or a planted link): O_EXCL below then creates a fresh file
    out = open(open_owned(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb")  # noqa: SIM115 - closed by the caller
    if matched:
        assert old is not None
        old.seek(0)
        while matched:
            block = old.read(min(matched, _BLOCK))
            if not block:
                raise OSError(f"{path} changed while it was compared with its new content")
            out.write(block)
            matched -= len(block)
    return out
