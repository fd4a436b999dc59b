"""Doubts recorded by a lock takeover, kept for the user while the run that left them may still be alive.

When a run takes a stale shared lock over, the jobs the old holder left ``submitting`` become in doubt
(`Ledger.recover_interrupted`). The old holder may not be dead, only frozen (a suspended laptop, a paused VM,
SIGSTOP) with such a POST half-written or about to go out: GET /jobs showing no job for it proves nothing yet,
since the POST may still arrive. So such a doubt is never settled automatically while the old holder could
still be alive; it is provably gone only when it ran on this machine (same host name) and its process no
longer exists. Otherwise the user decides (``--resubmit-in-doubt``) after checking the dashboard.

The old holder is recorded in the job's ``err`` (free for an in-doubt job: its server error code, which a
doubt never has), as JSON under `MARK`; any later transition of the job clears it.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from .records import JobRecord, LockHolder
from .states import JobState

MARK = "lockTakenOver"


def doubt_error(holder: LockHolder) -> str:
    """The in-doubt message of a job its old lock holder left ``submitting``."""
    return (f"the run holding the campaign's lock ({holder.describe()}) stopped while submitting, and its lock "
            "was taken over: the job may or may not have been created, and that run may still send it if it is "
            "only paused, so it stays in doubt until that run is provably gone or you decide "
            "(--resubmit-in-doubt)")


def doubt_marker(holder: LockHolder) -> str:
    """What identifies the old holder in the job's ``err``."""
    return json.dumps({MARK: {"host": holder.host, "pid": holder.pid, "runId": holder.run_id}},
                      separators=(",", ":"))


def _old_holder(err: str | None) -> dict[str, Any] | None:
    if not err or MARK not in err:
        return None
    try:
        found = json.loads(err).get(MARK)
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, dict) else None


def _provably_gone(host: Any, pid: Any) -> bool:
    """Whether the process ``pid`` of ``host`` certainly no longer exists: only knowable on this machine."""
    if host != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():  # this process has its pid now: the old holder is gone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's process, say): it may be the old holder
        return False
    return False


def held_for_user(record: JobRecord) -> bool:
    """Whether ``record`` is a doubt recorded by a takeover whose old holder could still be alive: then it is
    not settled automatically (see the module's docstring)."""
    if record.state != JobState.IN_DOUBT:
        return False
    holder = _old_holder(record.err)
    return holder is not None and not _provably_gone(holder.get("host"), holder.get("pid"))
