"""File-system helpers shared by the ledger, downloads and the manifest: durability and link safety.

Everything the tool writes lives inside the output folder. A symbolic link planted there (``manifest.jsonl``
pointing at a file elsewhere, a job folder pointing outside) must not redirect a write, so the files the
tool owns are opened with ``O_NOFOLLOW`` and the folders it writes into are checked with ``lstat``. The
output folder itself may be a link: that is the user's choice, made outside it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class LinkRefused(OSError):
    """A path the tool writes is a symbolic link (or not what it should be): nothing is written through it."""

    def __init__(self, path: str | os.PathLike[str], what: str = "a symbolic link") -> None:
        super().__init__(errno.ELOOP, f"is {what}; nothing is written through it (move it away and rerun)",
                         os.fspath(path))


def describe(exc: OSError) -> str:
    """``<path>: <reason>`` for a file-system error, without Python's ``[Errno N]`` noise."""
    if exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return exc.strerror or str(exc) or type(exc).__name__


def open_owned(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` for a file the tool owns inside the output folder: a symbolic link there is refused."""
    try:
        return os.open(path, flags | _NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LinkRefused(path) from None
        raise


def check_owned_dir(path: str | os.PathLike[str]) -> bool:
    """Whether the folder ``path`` exists; raises `LinkRefused` if it is a symbolic link or not a folder."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(mode):
        raise LinkRefused(path)
    if not stat.S_ISDIR(mode):
        raise LinkRefused(path, "not a folder")
    return True


def owned_dirs(root: str | os.PathLike[str], folder: str | os.PathLike[str], *, create: bool = False) -> bool:
    """Whether ``folder`` (inside the output folder ``root``) exists, each folder between them checked with
    `check_owned_dir`: a symbolic link anywhere on the way (a job folder, its ``v<k>/``) raises `LinkRefused`,
    not only one in the last place. With ``create``, missing folders are made one at a time, never through a
    link (one planted meanwhile makes ``mkdir`` fail, and the check after it refuses it). ``root`` itself may
    be a link: that is the user's choice, made outside it. Raises `ValueError` if ``folder`` is not inside
    ``root``."""
    current = os.fspath(root)
    for part in _parts_between(current, os.fspath(folder)):
        current = os.path.join(current, part)
        if not check_owned_dir(current):
            if not create:
                return False
            with contextlib.suppress(FileExistsError):
                os.mkdir(current)
            check_owned_dir(current)
    return True


def _parts_between(root: str, folder: str) -> list[str]:
    """The names that lead from ``root`` down to ``folder``: ``Path(folder).relative_to(root).parts``, with
    plain string operations on the common path (a rerun checks the folder of every file it keeps)."""
    if folder == root:
        return []
    if root and not root.endswith("/") and folder.startswith(root + "/"):
        parts = folder[len(root) + 1:].split("/")
        if "" not in parts and "." not in parts:  # already what pathlib would make of it
            return parts
    return list(Path(folder).relative_to(Path(root)).parts)


def fsync_dir(path: Path) -> None:
    """fsync a directory, so a file created or renamed in it survives a power loss."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
