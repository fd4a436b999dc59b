"""This machine's index of the campaigns it has run: campaign slug, API, output folder.

It exists for one mistake: running a campaign from another working directory, or with another
``--output``, starts it over in an empty folder and pays for every job again. Before a run submits a
campaign from scratch, `paid_elsewhere` looks up the other folders where this machine ran it; one whose
ledger holds jobs sent to the same kind of API refuses the run (``--fresh`` says starting over is meant).

The index lives in the user's state folder: ``$XDG_STATE_HOME/photogpt-batch/campaigns.json`` (default
``~/.local/state``; ``~/Library/Application Support`` on macOS, ``%LOCALAPPDATA%`` on Windows). It is only
a pointer to ledgers, which stay the truth: folders that no longer exist drop out of it, and a damaged file
is rebuilt with a warning. Writing it never fails a run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .io.durable import describe
from .ledger import Ledger, LedgerError
from .ownership import SANDBOX, same_kind
from .state_dir import state_dir

log = logging.getLogger(__name__)

INDEX_FILE = "campaigns.json"
_FORMAT = 1


@dataclass(frozen=True)
class Entry:
    """One campaign run in one folder: its slug, the API its jobs went to (as the ledger records it,
    see `ownership.endpoint_of`), the folder (absolute) and when it last ran (epoch seconds)."""

    campaign: str
    api: str
    output: str
    last_run: float

    def to_json(self) -> dict[str, Any]:
        """The entry as the index file stores it."""
        return {"campaign": self.campaign, "api": self.api, "output": self.output, "lastRun": self.last_run}


def _path(index: Path | None) -> Path:
    return index if index is not None else state_dir() / INDEX_FILE


def read(index: Path | None = None) -> list[Entry]:
    """The entries whose folder still exists. A missing index is empty; a damaged one is empty with a
    warning (the next `remember` rebuilds it)."""
    path = _path(index)
    try:
        data = json.loads(path.read_bytes())
        items = data["campaigns"]
        if not isinstance(items, list):
            raise TypeError("campaigns is not a list")
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        reason = describe(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        log.warning("the index of campaigns run on this machine (%s) cannot be read (%s); it is rebuilt from "
                    "this run on", path, reason)
        return []
    entries = []
    for item in items:
        try:
            entry = Entry(str(item["campaign"]), str(item["api"]), str(item["output"]), float(item["lastRun"]))
        except (KeyError, TypeError, ValueError):
            continue  # one damaged entry costs only itself
        with contextlib.suppress(OSError, ValueError):
            if Path(entry.output).is_dir():
                entries.append(entry)
    return entries


def remember(campaign: str, api: str, output: Path, index: Path | None = None) -> None:
    """Record that ``campaign`` ran in ``output`` through ``api`` (replace the file atomically). A failure is a
    warning: the index is a safety net, not part of the run."""
    path = _path(index)
    folder = str(output.absolute())
    entries = [e for e in read(path) if not (e.campaign == campaign and e.output == folder)]
    entries.append(Entry(campaign, api, folder, time.time()))
    data = json.dumps({"version": _FORMAT, "campaigns": [e.to_json() for e in entries]}, indent=1) + "\n"
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # one per process: two runs never share a temp file
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        log.warning("cannot update the index of campaigns run on this machine (%s): %s", path, describe(exc))


def paid_elsewhere(campaign: str, api: str | None, output: Path, index: Path | None = None) -> Path | None:
    """Another folder on this machine whose ledger holds jobs of ``campaign`` sent to the same kind of API
    as ``api`` (any but the sandbox when None), so paid for (or possibly), else None. The sandbox's jobs cost
    nothing: never a match."""
    if api == SANDBOX:
        return None
    here = output.absolute()
    for entry in sorted(read(index), key=lambda e: -e.last_run):
        folder = Path(entry.output)
        if entry.campaign != campaign or entry.api == SANDBOX or _same_folder(folder, here):
            continue
        try:
            with Ledger.open_for_reading(folder) as ledger:
                recorded = ledger.meta("endpoint") or entry.api
                if (ledger.meta("campaign") == campaign and recorded != SANDBOX
                        and (api is None or same_kind(recorded, api)) and ledger.anything_sent()):
                    return folder
        except (LedgerError, OSError) as exc:
            log.info("cannot read the ledger in %s: %s", folder, exc)
    return None


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return a == b
