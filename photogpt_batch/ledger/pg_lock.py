"""The shared ledger's run lock: one row per campaign in ``locks``, not a session advisory lock (those leak
behind PgBouncer's transaction pooling, where a session is not a client).

The row names its holder (host, pid, user, a run id), since when, and its last heartbeat, refreshed every few
seconds by a thread of the holder. A heartbeat older than the timeout (``PHOTOGPT_BATCH_LOCK_TIMEOUT``
seconds, default 120; measured on the server's clock, so clocks of machines do not matter) is stale and may be
taken over, with a warning. The timeout is the HOLDER's: it is written into the row with its heartbeat interval,
and everyone judges the lock by it, so a newcomer with a shorter setting cannot cut a live holder's lease.

**Fencing:** every holder gets a new ``generation``; every write of a runner checks it in the same transaction
(`fence`). A runner that lost its lock (paused, cut off, taken over, broken with ``ledger unlock``) can record
nothing more, and the engine sends nothing it could not record first.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import threading
import uuid
from typing import Any

from .errors import LedgerLocked, LockLost
from .records import LockHolder

log = logging.getLogger("photogpt_batch.ledger")

LOCK_TIMEOUT_ENV = "PHOTOGPT_BATCH_LOCK_TIMEOUT"
#: The tool's server sessions are named so (``application_name``, set by `pg_connect.connect`).
APPLICATION = "photogpt-batch"
DEFAULT_LOCK_TIMEOUT = 120.0
_HOLDER_COLUMNS = ("campaign, host, pid, user_name, run_id, extract(epoch FROM since)::float8,"
                   " extract(epoch FROM now() - heartbeat)::float8, timeout_s")


def lock_timeout() -> float:
    """Seconds without a heartbeat after which a lock is stale (``$PHOTOGPT_BATCH_LOCK_TIMEOUT``, else 120)."""
    try:
        value = float(os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT))
    except ValueError:
        return DEFAULT_LOCK_TIMEOUT
    return value if value > 0 else DEFAULT_LOCK_TIMEOUT


def heartbeat_interval(timeout: float) -> float:
    """How often the holder refreshes its heartbeat: a few times per timeout, at most every 5 s."""
    return max(0.1, min(5.0, timeout / 4))


def _holder(row: Any) -> LockHolder:
    """The row as a `LockHolder`, stale by the holder's own timeout. A row written by a version that did not
    record it is judged by the longer of ours and the default: never shorter than the holder may have assumed."""
    campaign, host, pid, user, run_id, since, age, timeout = row
    if timeout is None:
        timeout = max(lock_timeout(), DEFAULT_LOCK_TIMEOUT)
    return LockHolder(campaign, host, pid, user, run_id, since, age, stale=age is not None and age > timeout,
                      timeout=timeout)


def acquire(conn: Any, campaign: str, where: str) -> tuple[int, str, LockHolder | None]:
    """Take ``campaign``'s lock on ``conn`` (autocommit), recording this run's timeout and heartbeat interval
    in the row; returns (generation, run id, the holder whose stale lock was taken over, if one was). Raises
    `LedgerLocked` naming the holder when it is alive by its own timeout."""
    timeout = lock_timeout()
    run_id = uuid.uuid4().hex[:12]
    with conn.transaction():
        # The row is locked before anything else: an INSERT ... ON CONFLICT would wait for a transaction holding
        # it (a stuck holder's) before `_lock_row` could see that transaction and end it.
        row = _lock_row(conn, campaign)
        if row is None:  # the campaign's first run
            conn.execute("INSERT INTO locks (campaign) VALUES (%s) ON CONFLICT DO NOTHING", (campaign,))
            row = _lock_row(conn, campaign)
        holder = _holder(row)
        taken_over = None
        if holder.host is not None:
            if not holder.stale:
                raise LedgerLocked(where, holder.pid, (
                    f"campaign {campaign!r} is being run by {holder.describe()} (ledger {where}): wait for that "
                    f"run to finish. If it is gone, its lock goes stale after {holder.timeout:.0f} s (its own "
                    "timeout) without a heartbeat, or break it now with: photogpt-batch ledger unlock SPEC"))
            taken_over = holder
        generation = conn.execute(
            "UPDATE locks SET generation = generation + 1, host = %s, pid = %s, user_name = %s, run_id = %s,"
            " since = now(), heartbeat = now(), timeout_s = %s, heartbeat_s = %s WHERE campaign = %s"
            " RETURNING generation",
            (socket.gethostname(), os.getpid(), _user(), run_id, timeout, heartbeat_interval(timeout),
             campaign)).fetchone()[0]
    return generation, run_id, taken_over


def _lock_row(conn: Any, campaign: str) -> Any:
    """The campaign's lock row, locked for this transaction (`_HOLDER_COLUMNS`). When another transaction holds it,
    and that is a stale holder's session stuck in a write (`end_stuck_holder`), that session is ended first;
    otherwise this waits for the row, up to the session's ``lock_timeout``."""
    import psycopg

    select = f"SELECT {_HOLDER_COLUMNS} FROM locks WHERE campaign = %s FOR UPDATE"
    try:
        with conn.transaction():  # a savepoint: a refused NOWAIT leaves the transaction usable
            return conn.execute(select + " NOWAIT", (campaign,)).fetchone()
    except psycopg.errors.LockNotAvailable:
        end_stuck_holder(conn, campaign)
    return conn.execute(select, (campaign,)).fetchone()


#: The server session (pid, host of the run) whose open transaction holds a campaign's lock row, when the lock's
#: holder is stale by its own timeout and that transaction has been open longer than it: a runner stopped in the
#: middle of a write. Our write transactions last milliseconds, and a live holder's heartbeat (committed every few
#: seconds on a connection of its own) keeps its lock from going stale.
_STUCK = """SELECT a.pid FROM locks AS l JOIN pg_stat_activity AS a ON a.backend_xid = l.xmax
 WHERE l.campaign = %s AND a.pid <> pg_backend_pid() AND a.application_name = %s
 AND l.heartbeat < now() - make_interval(secs => coalesce(l.timeout_s, %s))
 AND a.xact_start < now() - make_interval(secs => coalesce(l.timeout_s, %s))"""


def end_stuck_holder(conn: Any, campaign: str) -> int | None:
    """End the server session of a stale holder stuck in the middle of a write on ``campaign``'s lock row (`_STUCK`);
    returns its pid, or None when there is none or it cannot be ended (the wait for the row then decides).

    A runner paused or frozen while it sends a write (its transaction's statements pipelined, the last not sent
    yet) holds the row's lock, and the server's ``idle_in_transaction_session_timeout`` does not apply to a session
    waiting for the rest of a pipeline: the lock could not be taken over until that runner woke up. Its lock is
    stale by its own timeout, so it may be taken over: ending its session (``pg_terminate_backend``, allowed for
    sessions of the same role) rolls its write back and frees the row; when it wakes up, its connection is gone
    and it records, and so sends, nothing more."""
    import psycopg

    default = max(lock_timeout(), DEFAULT_LOCK_TIMEOUT)
    try:
        with conn.transaction():
            found = conn.execute(_STUCK, (campaign, APPLICATION, default, default)).fetchone()
            if found is None:
                return None
            conn.execute("SELECT pg_terminate_backend(%s)", (found[0],))  # its row is free once it has ended
    except psycopg.Error as exc:  # not allowed (another role), or the session ended meanwhile
        log.warning("could not end the session of the stale run stuck on campaign %r's lock: %s", campaign, exc)
        return None
    log.warning("ended the server session (pid %s) of the stale run stuck in a write on campaign %r's lock",
                found[0], campaign)
    return int(found[0])


def takeover_warning(holder: LockHolder) -> str:
    """What a run says when it took ``holder``'s stale lock over."""
    return (f"warning: took over the stale lock of campaign {holder.campaign!r}, held by {holder.describe()}; "
            "that run can record (and so send) nothing more")


FENCE = "UPDATE locks SET heartbeat = now() WHERE campaign = %s AND generation = %s"


def fence(conn: Any, campaign: str, generation: int) -> None:
    """Inside a write transaction: check this runner still holds the lock (and refresh its heartbeat). The row
    stays locked until the transaction ends, so a takeover waits for it, then sees what it wrote."""
    check_fence(conn.execute(FENCE, (campaign, generation)).rowcount, campaign)


def check_fence(rowcount: int, campaign: str) -> None:
    """Raise `LockLost` unless the `FENCE` statement found this runner's generation."""
    if rowcount != 1:
        raise LockLost(f"this run lost the lock of campaign {campaign!r} to another (it was paused or cut off for "
                       "longer than the lock's timeout, or the lock was broken): it records, and so sends, nothing "
                       "more")


def release(conn: Any, campaign: str, generation: int) -> None:
    """Give the lock back, if it is still ours."""
    conn.execute("UPDATE locks SET host = NULL, pid = NULL, user_name = NULL, run_id = NULL, since = NULL,"
                 " heartbeat = NULL, timeout_s = NULL, heartbeat_s = NULL WHERE campaign = %s AND generation = %s",
                 (campaign, generation))


def holder(conn: Any, campaign: str) -> LockHolder | None:
    """Who holds ``campaign``'s lock, or ``None``."""
    row = conn.execute(f"SELECT {_HOLDER_COLUMNS} FROM locks WHERE campaign = %s AND host IS NOT NULL",
                       (campaign,)).fetchone()
    return _holder(row) if row else None


def holders(conn: Any) -> list[LockHolder]:
    """Every campaign's lock that is held, by campaign."""
    rows = conn.execute(f"SELECT {_HOLDER_COLUMNS} FROM locks WHERE host IS NOT NULL ORDER BY campaign").fetchall()
    return [_holder(row) for row in rows]


def break_lock(conn: Any, campaign: str) -> LockHolder | None:
    """Break ``campaign``'s lock (``ledger unlock``); returns who held it. The generation moves on, so the old
    holder, if it still runs, records (and sends) nothing more."""
    with conn.transaction():
        found = conn.execute(f"SELECT {_HOLDER_COLUMNS} FROM locks WHERE campaign = %s AND host IS NOT NULL"
                             " FOR UPDATE", (campaign,)).fetchone()
        if found is None:
            return None
        conn.execute("UPDATE locks SET generation = generation + 1, host = NULL, pid = NULL, user_name = NULL,"
                     " run_id = NULL, since = NULL, heartbeat = NULL, timeout_s = NULL, heartbeat_s = NULL"
                     " WHERE campaign = %s", (campaign,))
    return _holder(found)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


class Heartbeat(threading.Thread):
    """Refreshes the lock's heartbeat every few seconds on a connection of its own; stops when the lock is lost
    (and says so once: the writes fail from then on, by `fence`)."""

    def __init__(self, connect: Any, campaign: str, generation: int, interval: float) -> None:
        super().__init__(name="ledger-heartbeat", daemon=True)
        self._connect = connect
        self._campaign = campaign
        self._generation = generation
        self._interval = interval
        self._stopping = threading.Event()
        self.lost = False

    def run(self) -> None:
        conn = None
        while not self._stopping.wait(self._interval):
            try:
                if conn is None or conn.closed:
                    conn = self._connect()
                if conn.execute("UPDATE locks SET heartbeat = now() WHERE campaign = %s AND generation = %s",
                                (self._campaign, self._generation)).rowcount != 1:
                    self.lost = True
                    log.warning("this run lost the lock of campaign %r to another run: it records, and so sends, "
                                "nothing more", self._campaign)
                    break
            except Exception as exc:  # the server is away: the writes will say so; keep trying
                log.info("ledger heartbeat failed: %s", exc)
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        """Stop refreshing (the run is over) and wait for the thread."""
        self._stopping.set()
        if self.is_alive():
            self.join(timeout=10)
