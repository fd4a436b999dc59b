"""The record of files already checked: a rerun does not read again a file whose stat fingerprint has not changed
since its content was last hashed (as Git's index and rsync do).

Each downloaded file the tool has hashed (while streaming it, or on a rerun) is recorded by its path (relative,
as the ledger records it) with its fingerprint, ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)``, and the
sha256 its content had. A later run trusts a file without reading it when ``lstat`` gives the same fingerprint
and the recorded sha256 is the one the ledger holds for it. What makes that safe is the ctime: the kernel sets it
to the current time on every change of the file's content (and of its metadata: ``os.utime`` putting an old
mtime back changes it too), and no call lets a program set it back. A file replaced by another (a new inode, or
the old inode number reused) has another inode or ctime as well.

The ctime is only as fine as the file system's clock, so a file changed within the same tick after it was
recorded would keep its fingerprint. A file checked by hashing it is recorded only if its ctime is older than
the file system's clock read before its ``lstat`` (`fsclock.read_clock`: the ctime that touching this record's own file
gets), so any later change gives it a later ctime. A download is recorded from its ``lstat`` just after its
rename, with the sha256 computed while it streamed: a change in the instant after (a tick, a few milliseconds on
older kernels; none since Linux 6.13's fine-grained timestamps) is the one thing such a record cannot see, as
for Git's index. ``run --rehash`` ignores the record and reads every file again.

The record is local to this machine and this folder, deliberately not in the ledger: on the shared ledger, other
machines have their own disks, where inode numbers mean nothing. It is advisory: missing, unreadable, damaged,
of another format, or in a folder that cannot be written, it is set aside (every file is hashed, as without it)
and never fails a run; the run rebuilds it. It lives in ``<output>/.photogpt-batch/checked.sqlite3``
(`layout.checked_path`): lookups are by primary key, a page of files at a time (nothing holds the whole table), within
one read transaction, and writes are batched, one transaction per `BATCH` files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
from collections.abc import Sequence
from pathlib import Path

from ..layout import checked_path, ledger_dir
from .durable import check_owned_dir
from .fsclock import Fingerprint, fingerprint, read_clock, settled

log = logging.getLogger(__name__)

#: The record's format (``PRAGMA user_version``): a file of another is set aside and rebuilt.
FORMAT = 1
#: Files recorded per transaction.
BATCH = 500
#: Files looked up per statement (within SQLite's limit on parameters).
LOOKUP = 500
_SCHEMA = """CREATE TABLE checked (
    path TEXT PRIMARY KEY,
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
) WITHOUT ROWID"""
_TROUBLE = (sqlite3.Error, OSError, OverflowError, ValueError)


def stored(found: os.stat_result) -> Fingerprint:
    """The file's `fsclock.fingerprint` as the record stores it: device and inode numbers are unsigned 64-bit,
    SQLite's integers signed, so their upper half is stored as its negative twin."""
    dev, ino, size, mtime, ctime = fingerprint(found)
    return (_signed(dev), _signed(ino), size, mtime, ctime)


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


class CheckedFiles:
    """One run's view of an output folder's record of checked files (see the module docstring). Opened on first
    use; any trouble with it sets it aside for the rest of the run (every file is then hashed)."""

    def __init__(self, output: Path, *, rehash: bool = False) -> None:
        """``rehash``: start the record over (nothing it held is trusted; what this run hashes is recorded)."""
        self.output = output
        self.rehash = rehash
        self._conn: sqlite3.Connection | None = None
        self._opened = False
        self._pending: list[tuple[str, int, int, int, int, int, str]] = []
        #: The file system's clock read when the record was opened (device, ctime ns): a file whose ctime is
        #: older changed before that moment, so any later change gives it a later ctime (None: not known).
        self._clock: tuple[int, int] | None = None

    def vouches(self, rel: str, found: os.stat_result, sha256: str | None) -> bool:
        """Whether the file at ``rel``, whose ``lstat`` is ``found``, is recorded with this very fingerprint and
        with ``sha256`` (the ledger's) as its content's: then it holds that content, unread."""
        return rel in self.vouched([(rel, found, sha256)])

    def vouched(self, files: Sequence[tuple[str, os.stat_result, str | None]]) -> set[str]:
        """The paths among ``files`` (path, ``lstat``, the ledger's sha256) that `vouches` vouches for, looked up
        `LOOKUP` at a time (a rerun asks this of a page of files at once: one statement per file cost more than
        the file's own ``lstat``)."""
        wanted = {rel: (stored(found), sha256) for rel, found, sha256 in files if sha256}
        conn = self._db()
        if conn is None or not wanted:
            return set()
        vouched: set[str] = set()
        rels = list(wanted)
        try:
            if not conn.in_transaction:
                # One read transaction for a rerun's lookups (until the next flush): each statement on its own
                # would take and release WAL's read lock, three quarters of the cost of a lookup.
                conn.execute("BEGIN")
            for first in range(0, len(rels), LOOKUP):
                chunk = rels[first:first + LOOKUP]
                for rel, *recorded, sha256 in conn.execute(
                        "SELECT path, dev, ino, size, mtime_ns, ctime_ns, sha256 FROM checked WHERE path IN "
                        f"({', '.join('?' * len(chunk))})", chunk):
                    fp, expected = wanted[rel]
                    if sha256 == expected and tuple(recorded) == fp:
                        vouched.add(rel)
        except _TROUBLE as exc:
            self._set_aside(exc)
            return set()
        return vouched

    def hashed(self, rel: str, found: os.stat_result, sha256: str) -> None:
        """Record that the file at ``rel``, whose ``lstat`` (taken before it was read) is ``found``, hashed to
        ``sha256``; unless it changed too recently for its ctime to tell a later change apart (see the module
        docstring), when the next run hashes it again."""
        if self._db() is None or self._clock is None:
            return
        if settled(found.st_dev, found.st_ctime_ns, self._clock, other_devices=False):
            self._queue(rel, found, sha256)

    def downloaded(self, rel: str, found: os.stat_result, sha256: str) -> None:
        """Record a file just downloaded to ``rel`` (``found``: its ``lstat`` after the rename) whose content,
        as it streamed, hashed to ``sha256``."""
        if self._db() is not None:
            self._queue(rel, found, sha256)

    def _queue(self, rel: str, found: os.stat_result, sha256: str) -> None:
        self._pending.append((rel, *stored(found), sha256))
        if len(self._pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write what was recorded since the last flush, in one transaction."""
        pending, self._pending = self._pending, []
        if not pending or self._conn is None:
            return
        try:
            if not self._conn.in_transaction:  # else the lookups' read transaction, which this one write ends
                self._conn.execute("BEGIN")
            self._conn.executemany("INSERT OR REPLACE INTO checked VALUES (?, ?, ?, ?, ?, ?, ?)", pending)
            self._conn.execute("COMMIT")
        except _TROUBLE as exc:
            self._set_aside(exc)

    def close(self) -> None:
        """Flush, and close the record."""
        self.flush()
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def _db(self) -> sqlite3.Connection | None:
        """The record's connection, opened on the first call; None when it is set aside."""
        if not self._opened:
            self._opened = True
            try:
                self._conn = self._open()
            except _TROUBLE as exc:
                self._set_aside(exc)
        return self._conn

    def _open(self) -> sqlite3.Connection | None:
        folder = ledger_dir(self.output)
        if not check_owned_dir(folder):  # raises LinkRefused (an OSError) for a link
            return None  # no ledger folder: nothing to keep a record beside
        path = checked_path(self.output)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return None  # a link or anything else in its place is not ours: SQLite would follow it
        except FileNotFoundError:
            pass
        if self.rehash:
            _remove(path)
        try:
            conn = _connect(path)
        except sqlite3.DatabaseError:  # not a database, damaged, or of another format: rebuilt
            _remove(path)
            conn = _connect(path)
        try:
            self._clock = read_clock(path)
        except BaseException:
            conn.close()
            raise
        return conn

    def _set_aside(self, exc: BaseException) -> None:
        """Stop using the record for this run, and remove it so that the next run rebuilds it."""
        log.debug("the record of checked files is set aside: %s", exc)
        self._pending = []
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
            _remove(checked_path(self.output))


def _connect(path: Path) -> sqlite3.Connection:
    """The record at ``path``, created if missing; raises `sqlite3.DatabaseError` for one that is not of
    `FORMAT` (or not a database at all)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # WAL with synchronous=NORMAL: no fsync per batch. A crash may lose the last batches, which only means
        # hashing those files again; it cannot make a record say what a file never held.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA cache_size = -512")  # KiB: lookups are point reads; the run's memory stays flat
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables and version == 0:
            conn.execute("BEGIN")
            conn.execute(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {FORMAT}")
            conn.execute("COMMIT")
        elif version != FORMAT or tables != {"checked"}:
            raise sqlite3.DatabaseError(f"a record of another format ({version})")
        return conn
    except BaseException:
        conn.close()
        raise


def _remove(path: Path) -> None:
    """Delete the record and SQLite's files beside it (a link in their place is removed, never followed)."""
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        with contextlib.suppress(OSError):
            os.unlink(path.with_name(name))
