"""Checks of an output folder against its ledger, whichever store holds it."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Callable
from pathlib import Path

from ..manifest import MANIFEST
from .errors import LedgerError

MANIFEST_JOB_ID = re.compile(rb'"jobId":"((?:[^"\\\n]|\\.)*)"')  # within one line


def check_manifest_known(output: Path, where: Path | str, known: Callable[[], set[str]]) -> None:
    """Refuse a ledger that does not know jobs the folder's manifest lists: it was deleted, emptied, restored
    from an older backup, left behind in a copy, or is another campaign's, and running on it would submit (and
    pay for) those jobs again. The manifest is written from the ledger, so a healthy ledger knows every jobId in it."""
    manifest = output / MANIFEST
    try:
        found = manifest.lstat()
        if not stat.S_ISREG(found.st_mode) or not found.st_size:  # a link there is not a manifest we wrote
            return
        data = manifest.read_bytes()
    except OSError:
        return
    listed = set()
    # The manifest's own lines are compact JSON (`"jobId":"..."`): one pattern over the whole file finds the ids
    # in a third of the time of parsing each line, which counts for 100,000 of them on every run. A line edited
    # by hand that no longer matches is skipped: the ledger is the truth, not this file.
    for raw in MANIFEST_JOB_ID.findall(data):
        try:
            job_id = json.loads(b'"' + raw + b'"') if b"\\" in raw else raw.decode("utf-8")
        except ValueError:
            continue
        if job_id:
            listed.add(job_id)
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


