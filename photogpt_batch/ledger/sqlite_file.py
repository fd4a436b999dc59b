"""The SQLite ledger's file: its folder lock, its header and schema checks, connecting and migrating.

Layout: ``<output>/.photogpt-batch/ledger.sqlite3`` (WAL mode, ``synchronous=FULL``) and a ``lock`` file beside
it that a runner holds with ``flock`` for as long as it runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..io.durable import LinkRefused, open_owned
from ..layout import lock_path
from .errors import LedgerCorrupt, LedgerError, LedgerLocked, LedgerTooNew, LedgerUnusable, LedgerWriteFailed
from .migrations import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from .states import JOB_STATES, VIDEO_STATES

if TYPE_CHECKING:
    from .records import LockHolder

_SQLITE_MAGIC = b"SQLite format 3\x00"
#: How long SQLite waits for another program's lock on the ledger (a database browser, a backup) to go.
BUSY_TIMEOUT = 30.0


class FolderLock:
    """An exclusive, non-blocking ``flock`` on ``<output>/.photogpt-batch/lock``, holding the owner's PID.

    The kernel drops it when the process dies, however it dies, so a crashed run never leaves a stale lock.
    """

    def __init__(self, output: Path) -> None:
        path = lock_path(output)
        self._fd: int | None = open_owned(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(self._fd)
            os.close(self._fd)
            self._fd = None
            raise LedgerLocked(Path(output), pid) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def check_header(path: Path) -> None:
    """Refuse, before SQLite touches it, a file that is not an SQLite database. An empty file is a new ledger."""
    if path.is_symlink():  # SQLite would follow it, and write its journal beside wherever it points
        raise LinkRefused(path)
    with open(path, "rb") as existing:
        head = existing.read(len(_SQLITE_MAGIC))
    if head and head != _SQLITE_MAGIC:
        raise LedgerCorrupt(path, "this file is not a photogpt-batch ledger (not an SQLite database)")


def schema_version(conn: sqlite3.Connection, path: Path) -> int | None:
    """The ledger's schema version, ``None`` for an empty database; reads only."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables and app_id == 0:
            return None
        if app_id != APPLICATION_ID or "schema_version" not in tables:
            raise LedgerCorrupt(path, "this is an SQLite database, but not a photogpt-batch ledger")
        rows = conn.execute("SELECT version FROM schema_version").fetchall()
    except sqlite3.DatabaseError as exc:
        raise LedgerCorrupt(path, f"the database cannot be read ({exc})") from exc
    if len(rows) != 1 or not isinstance(rows[0][0], int) or rows[0][0] < 0:
        raise LedgerCorrupt(path, "the ledger's schema_version table is damaged")
    return rows[0][0]


@functools.cache
def expected_columns() -> dict[str, frozenset[str]]:
    """Every table of a current ledger and its columns, as the migrations make them."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        migrate(conn, Path(":memory:"), None)
        return table_columns(conn)
    finally:
        conn.close()


def table_columns(conn: sqlite3.Connection) -> dict[str, frozenset[str]]:
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: frozenset(row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (t,))) for t in tables}


def check_contents(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a ledger whose tables or states were damaged (by hand, or by another tool): acting on one could
    send a job again or lose track of a file. Reads only; about 25 ms for 100,000 jobs."""
    found = table_columns(conn)
    for table, columns in expected_columns().items():
        missing = columns - found.get(table, frozenset())
        if missing:
            what = f"table {table!r} is missing" if table not in found else \
                f"table {table!r} lacks {', '.join(sorted(missing))}"
            raise LedgerCorrupt(path, f"the ledger is damaged ({what})")
    for table, states in (("jobs", JOB_STATES), ("videos", VIDEO_STATES)):
        for (state,) in conn.execute(f"SELECT DISTINCT state FROM {table}"):
            if state not in states:
                raise LedgerCorrupt(path, f"the ledger is damaged (a row of {table!r} has the unknown state "
                                          f"{state!r})")


def needs_write_access(exc: LedgerCorrupt) -> bool:
    """Whether a read failed only because SQLite could not open its WAL index (a folder we cannot write)."""
    cause = exc.__cause__
    return isinstance(cause, sqlite3.Error) and any(
        text in str(cause).lower() for text in ("readonly", "read-only", "unable to open"))


def reader(path: Path) -> tuple[sqlite3.Connection, int | None]:
    """A read-only connection to the ledger at ``path`` and its schema version; in a folder we cannot write,
    the immutable one (`open_without_write_access`)."""
    conn = connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return conn, schema_version(conn, path)
    except LedgerCorrupt as exc:
        conn.close()
        if not needs_write_access(exc):
            raise
    except BaseException:
        conn.close()
        raise
    conn = open_without_write_access(path)
    try:
        return conn, schema_version(conn, path)
    except BaseException:
        conn.close()
        raise


def open_without_write_access(path: Path) -> sqlite3.Connection:
    """A read connection to a ledger in a folder we cannot write (``status`` by another user, a read-only
    mount). SQLite then cannot share its WAL index, so the file is read as it stands (``immutable``): right
    when no write-ahead log is left over, which is how a run that ended leaves it. A leftover log holds
    transitions the file does not have yet: reading without it would show an older state, so that is refused."""
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise LedgerUnusable(f"{path} cannot be read without write access to {path.parent}: the last run did not "
                             "finish cleanly, and its log must be applied first. Run this as a user who can write "
                             "there, or rerun the campaign")
    return connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)


def unusable(path: Path, exc: sqlite3.Error) -> LedgerError:
    """The error to report for an SQLite failure while opening the ledger at ``path``."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return LedgerUnusable(f"{path} is locked by another program (a database browser or a backup?); close "
                              "it and run again")
    if "readonly" in text or "read-only" in text or "unable to open" in text or "disk i/o" in text:
        return LedgerUnusable(f"{path} cannot be written ({exc}); check the permissions of it, the files "
                              "beside it and its folder")
    return LedgerCorrupt(path, f"the database cannot be used ({exc})")


@contextlib.contextmanager
def failures_as_ledger_errors(reading: bool = False) -> Iterator[None]:
    """An SQLite failure once the ledger is open (a full disk, an I/O error) becomes `LedgerWriteFailed`, the
    ledger's own error: callers outside the ledger never see the driver's."""
    try:
        yield
    except sqlite3.Error as exc:
        raise write_failed(exc, reading) from exc


def write_failed(exc: BaseException, reading: bool = False) -> BaseException:
    """``exc`` as the ledger's error when it is SQLite's (anything else is returned as it is)."""
    if not isinstance(exc, sqlite3.Error):
        return exc
    if reading:
        return LedgerWriteFailed(f"the ledger cannot be read ({exc})")
    return LedgerWriteFailed(f"the ledger cannot be written ({exc}): free some space, or fix the folder")


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already (it does after SQLITE_FULL, for one): a
    ROLLBACK without a transaction would raise and hide the error that led here."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def migrate(conn: sqlite3.Connection, path: Path, version: int | None) -> None:
    """Create the schema, or bring it from ``version`` to `SCHEMA_VERSION`, one transaction per step."""
    if version is not None and version > SCHEMA_VERSION:
        raise LedgerTooNew(path, version)
    if version is None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version (version) VALUES (0)")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
        version = 0
    for step in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (step + 1,))
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise


def connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT), never implicit.
    # check_same_thread=False: the group-commit thread and the caller's thread share a connection, one at a
    # time, under the ledger's locks.
    conn = sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def configure_for_writing(conn: sqlite3.Connection, path: Path) -> None:
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal" and str(path) != ":memory:":
        raise LedgerError(f"{path}: cannot switch the ledger to WAL mode (got {mode!r})")
    # FULL: in WAL mode every commit fsyncs the WAL, so a committed transition survives a power loss.
    conn.execute("PRAGMA synchronous = FULL")
    # macOS's fsync does not reach the platters; F_FULLFSYNC does. No effect elsewhere.
    conn.execute("PRAGMA fullfsync = ON")




def folder_lock_holder(output: Path, campaign: str) -> LockHolder | None:
    """Who holds the folder's lock, if anyone: a probe that writes nothing (a shared ``flock``, released at once;
    a runner starting in that instant is told the folder is busy, and can run again)."""
    from .records import LockHolder

    try:
        fd = os.open(lock_path(output), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return LockHolder(campaign, os.uname().nodename, _read_pid(fd), None, None, None, None)
    finally:
        os.close(fd)
    return None
