"""This tool's per-user state folder: the campaign index and the cache of local files' hashes live there.

Its own module, with nothing but the standard library, so that loading a spec (which hashes local files) does
not load the ledger or the HTTP client that the campaign index needs."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def state_dir() -> Path:
    """This tool's per-user state folder (``$XDG_STATE_HOME/photogpt-batch`` or the platform's own)."""
    xdg = os.environ.get("XDG_STATE_HOME", "")
    if os.path.isabs(xdg):  # the XDG spec: a relative value is invalid and ignored
        base = Path(xdg)
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path.home() / ".local" / "state"
    return base / "photogpt-batch"
