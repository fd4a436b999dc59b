"""The PostgreSQL store: many campaigns' ledgers in one shared database, keyed by campaign slug.

The tables live in their own schema (`PG_SCHEMA`), beside whatever else the database holds. A runner holds
three connections: one for writes, one for reads, and its lock's heartbeat (`pg_lock`).

Group commit here: unlike SQLite, every statement is a round trip to the server, so the whole batch (BEGIN,
the lock's fencing check, the ops, the events, COMMIT) runs in one dedicated thread on the write connection,
and the event loop only waits for its future. psycopg's async connection would also keep the loop free, but
a batch of a thousand transitions would then be thousands of loop wake-ups; one thread hand-off per batch is
what SQLite's store does, and it keeps the transitions' SQL (shared with SQLite) synchronous. In that thread
a batch is two round trips however many transitions it holds (see `pg_tx.PgTx`). Connecting, migrating and the
messages for a server that cannot be used are in `pg_connect`.

Each caller resumes only once its batch is committed; a batch the server did not confirm (the connection
dropped, the server restarted, this runner lost its lock) fails as a whole with `LedgerUnavailable`, and the
engine stops, sending nothing it could not record.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import folder, pg_lock
from .base import Ledger
from .errors import LedgerError, LedgerUnavailable, LedgerUnusable, LedgerWriteFailed, ReadOnlyLedger
from .migrations import PG_SCHEMA_VERSION
from .ops import Op, apply_ops
from .pg_connect import connect, first_line, load_psycopg, migrate, pg_sql, rollback_quietly, schema_version, unusable
from .pg_tx import PgTx
from .records import JobRecord, LockHolder
from .revision import PG_READ, shown
from .rows import JOB_COLUMNS, VIDEO_COLUMNS, job_record, video_record
from .sqlite_file import FolderLock
from .stores import redact, scrub
from .writer import Pending, fail_all, resolve


class _SlowPath(Exception):
    """The batch's fast path met an op that fails: start over, one op at a time (`PostgresLedger._batch`)."""


class PostgresLedger(Ledger):
    """One campaign's ledger in a shared PostgreSQL database. Once open, a failure of the server or the
    connection is raised as `LedgerUnavailable`, any other error of psycopg's as `LedgerWriteFailed`."""

    shared = True
    _scope = "jobs.campaign = ? AND "
    _meta_scope = "campaign = ? AND "
    _insert_scope = ("campaign, ", "?, ")
    _same_campaign = " AND e.campaign = jobs.campaign"

    def __init__(self, url: str, campaign: str, write_conn: Any | None, read_conn: Any,
                 generation: int | None = None, run_id: str | None = None) -> None:
        self.url = url
        self.campaign = campaign
        self.location = f"{redact(url)} (campaign {campaign})"
        self._scope_params = (campaign,)
        self._wconn = write_conn
        self._rconn = read_conn
        self._generation = generation
        self.run_id = run_id
        self._write_mutex = threading.Lock()
        self._read_mutex = threading.Lock()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ledger-writer") if write_conn else None
        self._heartbeat: pg_lock.Heartbeat | None = None
        self._folder_lock: FolderLock | None = None  # the output folder's, while a run writes into it
        self._closed = False
        self._init_writer()

    # ---- opening and closing ----------------------------------------------------------------------------

    @classmethod
    def open_for_run(cls, output: Path, *, url: str | None = None, campaign: str | None = None,
                     check_folder: bool = True, lock_folder: bool = True) -> PostgresLedger:
        """Take the output folder's lock (``lock_folder``: a run writes into it; ``ledger push`` and ``pull``
        hold it through the folder's own ledger), connect, migrate, take the campaign's lock and
        (``check_folder``) check that the folder belongs to this campaign and its manifest against the ledger."""
        assert url and campaign
        held = folder.lock_folder(Path(output)) if lock_folder else None
        try:
            wconn = connect(url)
        except BaseException:
            if held is not None:
                held.release()
            raise
        try:
            migrate(wconn, url)
            try:
                generation, run_id, taken_over = pg_lock.acquire(wconn, campaign, f"{redact(url)}")
            except load_psycopg().Error as exc:
                raise unusable(url, exc) from exc
            try:
                rconn = connect(url)
            except BaseException:
                with contextlib.suppress(Exception):
                    pg_lock.release(wconn, campaign, generation)
                raise
        except BaseException:
            wconn.close()
            if held is not None:
                held.release()
            raise
        ledger = cls(url, campaign, wconn, rconn, generation, run_id)
        ledger.taken_over = taken_over
        ledger.warning = pg_lock.takeover_warning(taken_over) if taken_over is not None else None
        ledger._folder_lock = held
        try:
            if check_folder:
                folder.check_folder_owner(Path(output), campaign)
                folder.check_manifest_known(Path(output), ledger.location, ledger.remote_ids)
            timeout = pg_lock.lock_timeout()
            ledger._heartbeat = pg_lock.Heartbeat(lambda: connect(url), campaign, generation,
                                                  pg_lock.heartbeat_interval(timeout))
            ledger._heartbeat.start()
        except BaseException:
            ledger.close()
            raise
        return ledger

    @classmethod
    def open_for_reading(cls, output: Path, *, url: str | None = None, campaign: str | None = None) -> Ledger:
        """Connect for reading; a database without the ledger's tables reads as an empty ledger."""
        assert url and campaign
        conn = connect(url)
        try:
            version = schema_version(conn, url)
            if version is None:
                conn.close()
                empty = Ledger.in_memory()
                empty.location = f"{redact(url)} (campaign {campaign})"
                return empty
            if version != PG_SCHEMA_VERSION:
                migrate(conn, url)
        except BaseException:
            conn.close()
            raise
        return cls(url, campaign, None, conn)

    @property
    def lock_lost(self) -> bool:
        """Whether the heartbeat found the lock taken by another run."""
        return self._heartbeat is not None and self._heartbeat.lost

    def _release(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        with self._write_mutex:
            if self._wconn is not None:
                with contextlib.suppress(Exception):  # the server is away: the lock goes stale by itself
                    if self._generation is not None and not self._wconn.broken:
                        pg_lock.release(self._wconn, self.campaign, self._generation)
                self._wconn.close()
        with self._read_mutex:
            self._rconn.close()
        if self._folder_lock is not None:
            self._folder_lock.release()

    def lock_holder(self) -> LockHolder | None:
        """Who holds this campaign's run lock now."""
        with self._reading() as conn:
            return pg_lock.holder(conn, self.campaign)

    async def prove_lock(self) -> None:
        """The fencing check of every write (and a heartbeat), on its own, in the writer thread: raises
        `LockLost` when another run took the lock over (this one was frozen past its timeout, say)."""
        self._writer_conn()
        assert self._executor is not None and self._generation is not None
        await asyncio.get_running_loop().run_in_executor(self._executor, self._prove_lock)

    def _prove_lock(self) -> None:
        conn = self._writer_conn()
        with self._write_mutex, self._unavailable_on_error():  # the connection is in autocommit
            pg_lock.check_fence(conn.execute(pg_lock.FENCE, (self.campaign, self._generation)).rowcount,
                                self.campaign)

    # ---- transactions -----------------------------------------------------------------------------------

    def _fence(self) -> None:
        if self._generation is not None:
            pg_lock.fence(self._wconn, self.campaign, self._generation)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[PgTx]:
        conn = self._writer_conn()
        with self._write_mutex, self._unavailable_on_error():
            conn.execute("BEGIN")
            try:
                self._fence()
                tx = PgTx(conn, self.campaign, self._fence)
                yield tx
                tx.bump_revision()
                conn.execute("COMMIT")
            except BaseException:
                rollback_quietly(conn)
                raise
            self.commits += 1

    def _run_batch(self, ops: Sequence[Op]) -> list[Exception | None]:
        now = time.time()
        return self._batch([(op, now) for op in ops])

    def _batch(self, ops: Sequence[tuple[Op, float]]) -> list[Exception | None]:
        """Apply ``ops`` in one transaction, checking the lock, and commit it; in the calling thread.

        First the fast path (`PgTx`: states read up front, writes in one pipeline); if any op fails (an illegal
        transition, a constraint), the transaction is rolled back and the batch applied again one op at a time,
        each in a savepoint, so that only the failing op is dropped."""
        psycopg = load_psycopg()
        if psycopg.Pipeline.is_supported() and self._generation is not None:
            try:
                return self._fast_batch(ops)
            except _SlowPath:
                pass
        with self._transaction() as tx:
            return apply_ops(tx, ops, psycopg.IntegrityError, tx.restart, self.clock_offset)

    def _fast_batch(self, ops: Sequence[tuple[Op, float]]) -> list[Exception | None]:
        """The batch in two pipelines (see `PgTx`); raises `_SlowPath` (rolled back) if any op fails."""
        psycopg = load_psycopg()
        conn = self._writer_conn()
        assert self._generation is not None
        rows = sorted({row for op, _ in ops if isinstance(row := getattr(op, "row", None), int)})
        tx = PgTx(conn, self.campaign, self._fence)
        with self._write_mutex, self._unavailable_on_error():
            try:
                with conn.pipeline() as pipeline:
                    fenced = tx.prefetch(rows, self._generation)
                    pipeline.sync()
                    pg_lock.check_fence(fenced.rowcount, self.campaign)
                    tx.prefetched()
                    results = apply_ops(tx, ops, psycopg.IntegrityError, _slow_path, self.clock_offset)
                    tx.bump_revision()
                    tx.send_queued()
                    conn.execute("COMMIT")
            except psycopg.IntegrityError as exc:
                rollback_quietly(conn)
                raise _SlowPath from exc
            except BaseException:
                rollback_quietly(conn)
                raise
            self.commits += 1
        return results

    async def _commit_batch(self, batch: list[Pending]) -> None:
        """Run the whole transaction in the writer thread; ops whose caller was cancelled are applied all the
        same (a jobId that arrived must be recorded)."""
        assert self._executor is not None
        loop = asyncio.get_running_loop()
        try:
            # Shielded: the thread runs the transaction to its end even if this task is cancelled.
            results = await asyncio.shield(loop.run_in_executor(
                self._executor, self._batch, [(op, at) for op, _, at in batch]))
        except Exception as exc:
            fail_all(batch, exc)
            return
        resolve(batch, results)

    def _writer_conn(self) -> Any:
        if self._closed:
            raise LedgerError("the ledger is closed")
        if self._wconn is None:
            raise ReadOnlyLedger("this ledger was opened for reading; open it with Ledger.open_for_run to write")
        return self._wconn

    @contextlib.contextmanager
    def _unavailable_on_error(self) -> Iterator[None]:
        """A failure of the server or the connection becomes `LedgerUnavailable`, any other of psycopg's
        `LedgerWriteFailed`: the run stops cleanly."""
        psycopg = load_psycopg()
        try:
            yield
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise LedgerUnavailable(f"the shared ledger {redact(self.url)} cannot be reached "
                                    f"({scrub(first_line(exc), self.url)})"
                                    "; once it is back, run again to resume") from exc
        except psycopg.Error as exc:  # the server refused a statement: the ledger's error, not the driver's
            raise LedgerWriteFailed(f"the shared ledger {redact(self.url)} refused a statement "
                                    f"({scrub(first_line(exc), self.url)})") from exc

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Any]:
        """The read connection, reconnected once if it was lost (reads are safe to repeat)."""
        with self._read_mutex, self._unavailable_on_error():
            if self._rconn.closed or self._rconn.broken:
                try:
                    self._rconn = connect(self.url)
                except LedgerUnusable as exc:
                    raise LedgerUnavailable(f"the shared ledger {redact(self.url)} cannot be reached "
                                            f"({scrub(first_line(exc.__cause__ or exc), self.url)}); once it is "
                                            "back, run again to resume") from exc
            yield self._rconn

    def _select_jobs(self, where: str, params: Sequence[Any] = ()) -> list[JobRecord]:
        """Jobs matching ``where`` with their videos, in ONE statement (each video row as a JSON array): one
        round trip where SQLite's two-query snapshot would be four (the engine reads a job this way on the
        event loop, once per job)."""
        rows = self._query(
            f"SELECT {JOB_COLUMNS}, (SELECT json_agg(json_build_array({VIDEO_COLUMNS}) ORDER BY v.n) FROM videos v"
            f" WHERE v.job = jobs.id) FROM jobs WHERE {self._scope}{where} ORDER BY jobs.id",
            (*self._scope_params, *params))
        models: dict[str, str] = {}
        return [job_record(r, (video_record(v) for v in r[-1] or ()), models) for r in rows]

    def paid_by_other_campaigns(self) -> Iterator[tuple[dict[str, Any], float]]:
        """What the other campaigns of the shared ledger paid: the succeeded versions, current or replaced, whose
        credits are known. Two columns, a page (`PAGE` rows) at a time: a shared ledger holds every campaign of a
        team, and learning prices from them must not hold them all."""
        return self._paid_where("campaign <> ? AND ", (self.campaign,))

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._reading() as conn:
            return conn.execute(pg_sql(sql), params).fetchall()

    def revision(self) -> str:
        """The campaign's revision (`revision`): its row, moved on by every transaction that wrote, from any
        machine."""
        return shown(self._query(PG_READ, (self.campaign,)))

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[Any]:
        with self._reading() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield lambda sql, params=(): conn.execute(pg_sql(sql), params).fetchall()
            finally:
                rollback_quietly(conn)


def _slow_path() -> None:
    raise _SlowPath
