"""Checks of an output folder against its ledger, whichever store holds it, and the folder's own claim and lock
on the shared ledger.

The folder's SQLite ledger records which campaign the folder belongs to, and its lock file keeps a second run
out. A shared ledger keys everything by campaign, so neither could say anything about the folder: two
campaigns could run into one folder, one after the other or at once, and overwrite each other's videos. So a
run on the shared ledger holds the same ``.photogpt-batch/lock`` while it writes into the folder, and records
the campaign that owns the folder in ``.photogpt-batch/campaign`` (`claim_folder_for`), which runs on either
store check.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

from ..io.durable import check_owned_dir, fsync_dir, open_owned
from ..layout import claim_path, ledger_dir, ledger_path, manifest_path, tmp_path
from .errors import LedgerError
from .sqlite_file import FolderLock

#: How much of the manifest `check_manifest_known` reads at a time.
_BLOCK = 1 << 20
MANIFEST_JOB_ID = re.compile(rb'"jobId":"((?:[^"\\\n]|\\.)*)"')  # within one line


def check_manifest_known(output: Path, where: Path | str, known: Callable[[], set[str]]) -> None:
    """Refuse a ledger that does not know jobs the folder's manifest lists: it was deleted, emptied, restored
    from an older backup, left behind in a copy, or is another campaign's, and running on it would submit (and
    pay for) those jobs again. The manifest is written from the ledger, so a healthy ledger knows every jobId in it."""
    manifest = manifest_path(output)
    listed: set[str] = set()
    try:
        found = manifest.lstat()
        if not stat.S_ISREG(found.st_mode) or not found.st_size:  # a link there is not a manifest we wrote
            return
        with open(manifest, "rb") as f:
            rest = b""
            # Whole lines a block at a time: the file (30 MB at 100,000 videos) is never held whole.
            while block := f.read(_BLOCK):
                lines, _, rest = (rest + block).rpartition(b"\n")
                _note_job_ids(lines, listed)
            _note_job_ids(rest, listed)
    except OSError:
        return
    if not listed:
        return
    known_ids = known()
    unknown = listed - known_ids
    if unknown:
        what = "is missing or empty" if not known_ids else "is older than the folder's files (restored from a backup?)"
        raise LedgerError(
            f"{where} {what}: it does not know {len(unknown)} job(s) that {manifest} lists (such as "
            f"{min(unknown)}), so running would submit and pay for them again. Restore a ledger that knows "
            f"them, or move {manifest.name} away to go ahead anyway")




def _note_job_ids(data: bytes, listed: set[str]) -> None:
    """Add the jobIds of manifest lines ``data`` to ``listed``."""
    # The manifest's own lines are compact JSON (`"jobId":"..."`): one pattern over them finds the ids in a third
    # of the time of parsing each line, which counts for 100,000 of them on every run. A line edited by hand that
    # no longer matches is skipped: the ledger is the truth, not this file.
    for raw in MANIFEST_JOB_ID.findall(data):
        try:
            job_id = json.loads(b'"' + raw + b'"') if b"\\" in raw else raw.decode("utf-8")
        except ValueError:
            continue
        if job_id:
            listed.add(job_id)


def lock_folder(output: Path) -> FolderLock:
    """Take the output folder's lock (``.photogpt-batch/lock``, created if needed, never through a link), as a
    run on the folder's own ledger does: `LedgerLocked` names the process that holds it."""
    folder = ledger_dir(output)
    if not check_owned_dir(folder):
        folder.mkdir(parents=True, exist_ok=True)
    return FolderLock(Path(output))


def folder_owner(output: Path) -> str | None:
    """The campaign ``output`` belongs to: the one a shared-ledger run recorded there, else the one its own
    SQLite ledger records once it sent something; ``None`` when nothing says."""
    claim = claim_path(output)
    with contextlib.suppress(OSError, ValueError, AttributeError):
        if stat.S_ISREG(claim.lstat().st_mode):
            name = json.loads(claim.read_bytes()).get("campaign")
            if isinstance(name, str) and name:
                return name
    path = ledger_path(output)
    if not path.is_file() or path.is_symlink():
        return None
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            sent = conn.execute("SELECT 1 FROM jobs WHERE attempts > 0 OR remote_id IS NOT NULL LIMIT 1").fetchone()
            row = conn.execute("SELECT value FROM meta WHERE key = 'campaign'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:  # an old or damaged ledger: the run on it says so itself
        return None
    return row[0] if sent and row and isinstance(row[0], str) else None


def check_folder_owner(output: Path, campaign: str) -> None:
    """Refuse (`LedgerError`, nothing sent) to run ``campaign`` into a folder that belongs to another one."""
    owner = folder_owner(output)
    if owner is not None and owner != campaign:
        raise LedgerError(
            f"{output} belongs to campaign {owner!r}, not {campaign!r}: two campaigns in one folder would overwrite "
            "each other's videos and pay again for each other's jobs. Give this one its own output (or, if the "
            "campaign was renamed, put the old name back)")


def claim_folder_for(output: Path, campaign: str) -> None:
    """Record that ``output`` belongs to ``campaign`` (for a run on the shared ledger): written to a temporary
    file and renamed into place, never through a link."""
    claim = claim_path(output)
    tmp = tmp_path(claim)
    data = json.dumps({"campaign": campaign}).encode() + b"\n"
    with contextlib.suppress(OSError):
        if claim.read_bytes() == data and not claim.is_symlink():
            return
    tmp.unlink(missing_ok=True)
    fd = open_owned(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    with open(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, claim)
    fsync_dir(claim.parent)
