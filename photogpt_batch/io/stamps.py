"""Views written only when their inputs changed. The manifest and the review page are made from the ledger, the
spec and a few files; at 20,000 jobs making them costs seconds, and a run with nothing to do would make them
again exactly as they are.

So a view, once written, is recorded in ``.photogpt-batch/views.json`` (`layout.views_path`) with its
*fingerprint* (`fingerprint`: the caller's digest of everything the view is made from, with the tool's version)
and the file it was written to (its size, mtime and inode). A view whose fingerprint is the recorded one and whose
file is still that file is left as it is, without being made (`write_view` with ``reuse``).

Its record is removed before a view is written again, and added only once it is written: a crash in between
leaves no record, never one beside a file it does not describe. Anything wrong with the record (missing,
unreadable, damaged, another format) means "make the view". A record that cannot be written is no error: the view
is then made again next time, as it would be without one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .. import __version__
from ..layout import ledger_dir, sequence_path, sequence_record_path, tmp_path, views_path
from .durable import open_owned, owned_dirs

#: The record's own format.
FORMAT = 1
#: The most of the record read: it holds two short entries.
_MAX_BYTES = 1 << 20


def fingerprint(*parts: Any) -> str:
    """The sha256 of the tool's version and ``parts`` (JSON values; a large input is passed as its own digest)."""
    text = json.dumps([__version__, *parts], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_state(path: str | os.PathLike[str]) -> list[int] | None:
    """What tells one file from another at ``path``: its size, mtime (ns) and inode; None when there is no regular
    file (a link is not one)."""
    try:
        found = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    return [found.st_size, found.st_mtime_ns, found.st_ino]


def sequence_files(output: Path, names: Iterable[str]) -> list[list[int] | None]:
    """`file_state` of each sequence named in ``names``: its video and the record of what it was built from (both
    views list the sequences written), for their fingerprints."""
    return [file_state(os.path.join(output, path)) for name in names
            for path in (sequence_path(name), sequence_record_path(name))]


def _read(output: Path) -> dict[str, Any]:
    """The views recorded in ``output`` (name → entry); empty when the record is missing or not one of ours."""
    try:
        with open(open_owned(views_path(output), os.O_RDONLY), "rb") as f:
            data = json.loads(f.read(_MAX_BYTES))
    except (OSError, ValueError):
        return {}
    views = data.get("views") if isinstance(data, dict) and data.get("format") == FORMAT else None
    return views if isinstance(views, dict) else {}


def _save(output: Path, views: dict[str, Any]) -> None:
    """Replace the record with ``views`` (a temporary file renamed into place, never through a link); nothing
    when the tool's folder is not there (a campaign that never ran) or the record cannot be written."""
    path = views_path(output)
    tmp = tmp_path(path)
    try:
        if not owned_dirs(output, ledger_dir(output)):
            return
        tmp.unlink(missing_ok=True)  # a leftover, or a planted link: O_EXCL below then makes a fresh file
        with open(open_owned(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "w", encoding="utf-8") as f:
            json.dump({"format": FORMAT, "views": views}, f, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError:
        # Not durable, and no error when it fails: without a record, the views are only made again.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def is_fresh(output: Path, name: str, inputs: str) -> bool:
    """Whether the view ``name`` (a file at the top of ``output``) was written from ``inputs`` (its fingerprint)
    and is still the file written then."""
    entry = _read(output).get(name)
    state = file_state(output / name)
    return isinstance(entry, dict) and state is not None and entry.get("inputs") == inputs and \
        entry.get("file") == state


def write_view(output: Path, name: str, inputs: str, write: Callable[[], object], *, reuse: bool) -> bool:
    """Make the view ``name`` (a file at the top of ``output``) with ``write`` and record it with ``inputs``, its
    fingerprint; returns whether ``write`` was called. With ``reuse``, a view `is_fresh` is left as it is.
    Raises what ``write`` raises, and the view is then left unrecorded."""
    if reuse and is_fresh(output, name, inputs):
        return False
    views = _read(output)
    if views.pop(name, None) is not None:
        _save(output, views)  # before the file changes: a crash while it is written leaves no record
    write()
    state = file_state(output / name)
    if state is not None:
        views = _read(output)  # as it stands now: the other view's entry is kept
        views[name] = {"inputs": inputs, "file": state}
        _save(output, views)
    return True
