"""The SQLite store: one ledger per campaign output folder, the embedded default.

Group commit here: the batch is applied on the event loop's thread (plain SQL on pages in memory:
microseconds) and only the ``COMMIT`` (the fsync) is handed to a dedicated thread; each caller resumes once
that transaction is durable. So each commit is one thread hand-off, not one per statement (the thread never
competes with the loop for the GIL).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import layout
from ..io.durable import check_owned_dir, fsync_dir
from . import sqlite_file as f
from .base import Ledger
from .errors import LedgerCorrupt, LedgerError, LedgerTooNew, LedgerUnusable, ReadOnlyLedger
from .folder import check_manifest_known
from .migrations import SCHEMA_VERSION
from .ops import Op, apply_ops, select_job_row, select_video_state
from .records import LockHolder
from .revision import SQLITE_READ, bump_if_changed, shown
from .states import JobState, VideoState
from .writer import Pending, fail_all, resolve


class SqliteTx:
    """An SQLite connection as a `Tx`: ``execute`` is the connection's own (no cost on the hot path)."""

    __slots__ = ("conn", "execute", "executemany")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.execute = conn.execute
        self.executemany = conn.executemany

    def set_meta(self, key: str, value: str) -> None:
        """Upsert the ``meta`` row."""
        self.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value ="
                          " excluded.value", (key, value))

    def job_row(self, row: int) -> tuple[JobState, str]:
        """Asked of the database (SQLite answers in microseconds)."""
        return select_job_row(self.conn, row)

    def video_state(self, row: int, n: int) -> VideoState:
        """Asked of the database."""
        return select_video_state(self.conn, row, n)

    def moved(self, row: int, n: int | None, to: str, created: int = 0) -> None:
        """Nothing kept: the next op asks the database."""

    def restart(self) -> None:
        """Roll back and begin again."""
        self.conn.execute("ROLLBACK")
        self.conn.execute("BEGIN IMMEDIATE")


class SqliteLedger(Ledger):
    """The ledger of one output folder. Open it with `open_for_run` or `open_for_reading`. Once open, an SQLite
    failure is raised as `LedgerWriteFailed` (`sqlite_file.failures_as_ledger_errors`)."""

    def __init__(self, path: Path, write_conn: sqlite3.Connection | None, read_conn: sqlite3.Connection,
                 lock: f.FolderLock | None) -> None:
        self.path = path
        self.location = str(path)
        self._wconn = write_conn
        self._wtx = SqliteTx(write_conn) if write_conn is not None else None
        self._rconn = read_conn
        self._lock = lock
        self._write_mutex = threading.Lock()
        self._read_mutex = threading.Lock()
        # One dedicated thread: SQLite work stays off the event loop, and always on the same thread.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ledger-writer") if write_conn else None
        self._closed = False
        self._init_writer()

    # ---- opening and closing ----------------------------------------------------------------------------

    @classmethod
    def open_for_run(cls, output: Path, *, url: str | None = None, campaign: str | None = None,
                     check_folder: bool = True) -> SqliteLedger:
        """Open (creating if needed) the ledger of ``output`` for writing, holding its lock.

        Raises `LedgerLocked` if another runner holds it, `LedgerCorrupt` for a file that is not our
        ledger, `LedgerTooNew` for a ledger from a newer version. Migrates an older ledger.
        """
        output = Path(output)
        state_dir = layout.ledger_dir(output)
        created_dir = not check_owned_dir(state_dir)  # a link there would put the ledger somewhere else
        state_dir.mkdir(parents=True, exist_ok=True)
        lock = f.FolderLock(output)
        try:
            path = layout.ledger_path(output)
            is_new = not path.exists()
            if not is_new:
                f.check_header(path)
            try:
                wconn = f.connect(str(path))
                try:
                    version = f.schema_version(wconn, path)
                    if version is not None and version > SCHEMA_VERSION:
                        raise LedgerTooNew(path, version)
                    f.configure_for_writing(wconn, path)
                    f.migrate(wconn, path, version)
                    f.check_contents(wconn, path)
                    if check_folder:
                        check_manifest_known(output, path, lambda: _remote_ids(wconn))
                    # Write once now, and roll it back: a read-only file, or another program's lock, is
                    # found before anything is sent rather than at the first transition. (Taking the lock
                    # alone is not enough: in WAL mode a read-only file grants it.)
                    wconn.execute("BEGIN IMMEDIATE")
                    try:
                        wconn.execute("UPDATE schema_version SET version = version")
                    finally:
                        f.rollback(wconn)
                    rconn = f.connect(str(path))
                except BaseException:
                    wconn.close()
                    raise
            except sqlite3.Error as exc:
                raise f.unusable(path, exc) from exc
            if is_new:
                # The new file's directory entry, and the folder's, must survive a crash too.
                fsync_dir(state_dir)
                if created_dir:
                    fsync_dir(output)
        except BaseException:
            lock.release()
            raise
        return cls(path, wconn, rconn, lock)

    @classmethod
    def open_for_reading(cls, output: Path, *, url: str | None = None, campaign: str | None = None) -> SqliteLedger:
        """Open the ledger of ``output`` for reading (``status``, ``plan``): no lock, nothing created.

        A folder without a ledger reads as an empty ledger. An older ledger is migrated first, which needs
        the lock for a moment (`LedgerLocked` if a runner of an older version holds it).
        """
        path = layout.ledger_path(Path(output))
        if not path.exists():
            return cls._empty(path)
        f.check_header(path)
        try:
            rconn, version = f.reader(path)
            if version is None:
                rconn.close()
                return cls._empty(path)
            if version > SCHEMA_VERSION:
                rconn.close()
                raise LedgerTooNew(path, version)
            if version < SCHEMA_VERSION:
                rconn.close()
                try:
                    cls.open_for_run(output).close()
                except (LedgerCorrupt, PermissionError) as exc:
                    if isinstance(exc, LedgerCorrupt) and not f.needs_write_access(exc):
                        raise
                    raise LedgerUnusable(f"{path} was written by an earlier photogpt-batch and must be upgraded "
                                         f"first, which needs write access to {path.parent}: run this once as a "
                                         "user who can write there") from exc
                rconn, _ = f.reader(path)
            try:
                f.check_contents(rconn, path)
            except BaseException:
                rconn.close()
                raise
        except sqlite3.Error as exc:
            raise f.unusable(path, exc) from exc
        return cls(path, None, rconn, None)

    @classmethod
    def in_memory(cls) -> SqliteLedger:
        """An empty, read-only ledger: what a folder that never ran reads as."""
        conn = f.connect(":memory:")
        f.migrate(conn, Path(":memory:"), None)
        return cls(Path(":memory:"), None, conn, None)

    @classmethod
    def _empty(cls, path: Path) -> SqliteLedger:
        empty = cls.in_memory()
        empty.location = str(path)
        return empty

    def lock_holder(self) -> LockHolder | None:
        """The process holding the folder's lock, if another does (the file names only its pid, on this host)."""
        if self._lock is not None or str(self.path) == ":memory:":
            return None
        return f.folder_lock_holder(self.path.parent.parent, self.meta("campaign") or "")

    def _release(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        with self._write_mutex:
            if self._wconn is not None:
                self._wconn.close()
        with self._read_mutex:
            self._rconn.close()
        if self._lock is not None:
            self._lock.release()

    # ---- transactions -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[SqliteTx]:
        conn = self._writer_conn()
        assert self._wtx is not None
        with self._write_mutex, f.failures_as_ledger_errors():
            conn.execute("BEGIN IMMEDIATE")
            before = conn.total_changes
            try:
                yield self._wtx
                bump_if_changed(conn, before)
                conn.execute("COMMIT")
            except BaseException:
                f.rollback(conn)
                raise

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._read_mutex, f.failures_as_ledger_errors(reading=True):
            return self._rconn.execute(sql, params).fetchall()

    def revision(self) -> str:
        """The ledger's revision (`revision`): its file's one row, moved on by every transaction that wrote."""
        return shown(self._query(SQLITE_READ))

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[Any]:
        with self._read_mutex, f.failures_as_ledger_errors(reading=True):
            conn = self._rconn
            conn.execute("BEGIN")
            try:
                yield lambda sql, params=(): conn.execute(sql, params).fetchall()
            finally:
                conn.execute("COMMIT")

    async def _commit_batch(self, batch: list[Pending]) -> None:
        """Apply ``batch`` in one transaction here, on the loop's thread, and COMMIT it in the writer thread.

        Ops whose caller was cancelled are applied all the same: a jobId that arrived must be recorded.
        """
        assert self._executor is not None
        conn = self._writer_conn()
        loop = asyncio.get_running_loop()
        # Held from BEGIN until the COMMIT is done; the writer thread releases it, so a synchronous `commit`
        # called meanwhile waits for that fsync instead of joining a transaction that is being committed.
        self._write_mutex.acquire()
        try:
            results = self._apply_ops([(op, at) for op, _, at in batch])
        except BaseException as exc:
            self._write_mutex.release()
            fail_all(batch, f.write_failed(exc))
            if not isinstance(exc, Exception):
                raise
            return
        try:
            # Shielded: were this task cancelled (a second Ctrl-C, the loop shutting down) before the writer
            # thread picked the COMMIT up, the thread would never run it, and the write lock taken above would
            # never be released. Now the COMMIT always runs, and releases it.
            await asyncio.shield(loop.run_in_executor(self._executor, self._commit_and_release, conn))
        except Exception as exc:
            fail_all(batch, f.write_failed(exc))
            return
        resolve(batch, results)

    def _commit_and_release(self, conn: sqlite3.Connection) -> None:
        """COMMIT (the fsync) in the writer thread, then let the next writer in."""
        try:
            self._commit(conn)
        finally:
            self._write_mutex.release()

    def _commit(self, conn: sqlite3.Connection) -> None:
        """COMMIT the open transaction; on failure roll it back (if SQLite has not) and raise."""
        try:
            conn.execute("COMMIT")
        except BaseException:
            f.rollback(conn)
            raise
        self.commits += 1

    def _apply_ops(self, ops: Sequence[tuple[Op, float]]) -> list[Exception | None]:
        """BEGIN and apply each (op, time), leaving the transaction open (`apply_ops`) with the revision moved on
        if it changed anything. Rolls back everything and raises on anything else. The caller holds
        ``_write_mutex``."""
        conn = self._writer_conn()
        assert self._wtx is not None
        conn.execute("BEGIN IMMEDIATE")
        before = conn.total_changes
        try:
            results = apply_ops(self._wtx, ops, sqlite3.IntegrityError, self._wtx.restart, self.clock_offset)
            bump_if_changed(conn, before)  # the batch's COMMIT (`_commit`) follows: no write comes after this
            return results
        except BaseException:
            f.rollback(conn)
            raise

    def _run_batch(self, ops: Sequence[Op]) -> list[Exception | None]:
        """Apply ``ops`` in one transaction and commit it, synchronously, in the calling thread."""
        conn = self._writer_conn()
        with self._write_mutex, f.failures_as_ledger_errors():
            now = time.time()
            results = self._apply_ops([(op, now) for op in ops])
            self._commit(conn)
        return results

    def _writer_conn(self) -> sqlite3.Connection:
        if self._closed:
            raise LedgerError("the ledger is closed")
        if self._wconn is None:
            raise ReadOnlyLedger("this ledger was opened for reading; open it with Ledger.open_for_run to write")
        return self._wconn


def _remote_ids(conn: sqlite3.Connection) -> set[str]:
    return {rid for (rid,) in conn.execute("SELECT remote_id FROM jobs WHERE remote_id IS NOT NULL")}
