"""`Ledger`: the one interface the engine, ``plan``, ``status`` and reconciliation use, whatever the store.

It is abstract: a store (`SqliteLedger` in an output folder, `PostgresLedger` in a shared database) supplies how to
open, lock and close (`_release`), a write transaction (`_transaction`), reads (`_query`, `_snapshot`), one batch
of ops in one transaction (`_run_batch`), the group commit (`_commit_batch`, `_writer_conn`) and the `revision` its
writes move on, and raises only the ledger's own errors (`LedgerWriteFailed` for a failed statement), not its driver's.

Ops are written one way: `Ledger.write` (group commit), of which the ``mark_...`` methods are shorthands. The
steps that come before a run's transitions or outside a run are synchronous: `register` (the spec, in a
transaction of its own), `recover_interrupted` and `set_meta` (ops, through the same batch: `_run_batch`).
Everything else (registering the spec, the reads' SQL, reconciliation) is written once, here, with ``?``
placeholders and the tables both stores share. In a shared database the rows of one campaign are picked by
`_scope` (``jobs.campaign = ? AND ``, with `_scope_params`); in a folder's own ledger it is empty.
"""

from __future__ import annotations

import abc
import contextlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Iterator, Sequence
from pathlib import Path, PurePath
from types import TracebackType
from typing import Any, Self

from ..campaign import PlannedJob, canonical_json
from .errors import UnknownRecord
from .ops import INSERT_EVENT, EventRow, JobTransition, Op, SetCredits, SetMeta, Tx, VideoTransition, with_offset
from .paged import PagedReads
from .records import Event, JobRecord, LockHolder, ReconciledJob, Reconciliation, VideoRecord, disposition
from .revision import Revisioned
from .rows import JOB_COLUMNS, VIDEO_COLUMNS, job_record, video_record
from .states import Disposition, JobState, VideoState
from .writer import GroupCommit


class Ledger(GroupCommit, PagedReads, Revisioned):
    """A campaign's ledger, the single source of truth of its runs. Open one with `open_for_run` (writes,
    holding the campaign's lock) or `open_for_reading`; ``url`` picks the shared PostgreSQL store, else the
    output folder's SQLite ledger."""

    #: Whether this is the shared ledger (PostgreSQL: many campaigns, many machines) rather than an output
    #: folder's own: a shared one cannot tell on its own which folder belongs to which campaign.
    shared: bool = False
    #: Where the ledger is, for messages: the SQLite file, or the database URL without its password.
    location: str
    #: A note for the run to show once it starts (the shared store: a stale lock it took over), or None.
    warning: str | None = None
    #: The holder whose stale lock this run took over (the shared store), or None.
    taken_over: LockHolder | None = None
    #: The server's clock minus this machine's, in seconds, as the run measured it (`Engine` sets it from the
    #: client's ``GET /ping``); recorded with every event, so that a later run, on any machine, can put the
    #: event's time on the server's clock. None (not measured, or not a run): events record it as unknown,
    #: and an in-doubt submission whose events have no offset is never settled automatically.
    clock_offset: float | None = None
    _scope: str = ""
    #: `replaced` as last read, with the ledger's revision then.
    _replaced: tuple[str, list[JobRecord]] | None = None
    _scope_params: tuple[Any, ...] = ()
    _meta_scope: str = ""
    _insert_scope: tuple[str, str] = ("", "")
    _same_campaign: str = ""  # in a subquery over jobs AS e: the outer job's campaign

    @classmethod
    def open_for_run(cls, output: Path, *, url: str | None = None, campaign: str | None = None) -> Ledger:
        """Open for writing, taking the campaign's lock: the folder's SQLite ledger, or with ``url`` the shared
        one (``campaign`` then names the campaign). Raises a `LedgerError` with what to do."""
        from .stores import open_store

        return open_store(output, url, campaign, write=True)

    @classmethod
    def open_for_reading(cls, output: Path, *, url: str | None = None, campaign: str | None = None) -> Ledger:
        """Open for reading (``status``, ``plan``): no lock taken; a campaign never run reads as empty."""
        from .stores import open_store

        return open_store(output, url, campaign, write=False)

    @classmethod
    def in_memory(cls) -> Ledger:
        """An empty, read-only ledger: what a campaign that never ran reads as."""
        from .sqlite import SqliteLedger

        return SqliteLedger.in_memory()

    # ---- what a store supplies --------------------------------------------------------------------------

    @abc.abstractmethod
    def _transaction(self) -> contextlib.AbstractContextManager[Tx]:
        """A write transaction, committed (durably) when the block ends, rolled back if it raises."""

    @abc.abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one read statement (``?`` placeholders)."""

    @abc.abstractmethod
    def _snapshot(self) -> contextlib.AbstractContextManager[Any]:
        """A read transaction several statements see the same ledger in; yields a function like `_query`."""

    @abc.abstractmethod
    def _run_batch(self, ops: Sequence[Op]) -> list[Exception | None]:
        """Apply ``ops`` in one transaction and commit it, synchronously: what a group commit does with a batch."""

    def lock_holder(self) -> LockHolder | None:
        """Who holds this campaign's run lock now (``None``: nobody, or the store cannot tell)."""
        return None

    async def prove_lock(self) -> None:
        """Prove, right before a POST goes out, that this run still holds the campaign's lock, as every write
        does (fencing); raises `LockLost` (a `LedgerUnavailable`) when it does not, and then nothing may be
        sent. The engine calls it before every attempt of a submission whose intent is already recorded.

        Here (a folder's ledger) the lock is a file lock held by this process for as long as it lives: it
        cannot be lost, so the proof is that this handle may still write."""
        self._writer_conn()

    _wconn: Any = None
    _closed: bool = False

    @property
    def writable(self) -> bool:
        """Whether this handle may write (opened with `open_for_run`)."""
        return self._wconn is not None and not self._closed

    def close(self) -> None:
        """Close the store and release the lock. Use `aclose` if group commit was used."""
        if self._closed:
            return
        if self._writer_running():
            raise RuntimeError("the ledger's writer is running: close it with 'await ledger.aclose()'")
        self._closed = True
        self._release()

    @abc.abstractmethod
    def _release(self) -> None:
        """Stop the store's threads, give its lock back and close its connections (once, from `close`)."""

    async def aclose(self) -> None:
        """Commit everything queued, stop the writer, then `close`."""
        await self._stop_writer()
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    # ---- synchronous writes -----------------------------------------------------------------------------

    def register(self, planned: Iterable[PlannedJob]) -> dict[str, int]:
        """Record the spec's jobs; return each job id's current row.

        A new id gets a ``planned`` row. An id whose content changed gets a new version (or its earlier
        version with this content back) as the current one; the replaced version stays recorded, with
        ``current`` off. Unchanged jobs and jobs absent from ``planned`` are left as they are.
        """
        jobs = list(planned)
        duplicates = sorted(job_id for job_id, k in Counter(job.id for job in jobs).items() if k > 1)
        if duplicates:
            raise ValueError("duplicate job ids in the plan: " + ", ".join(duplicates))
        self._writer_conn()
        scope, sp = self._scope, self._scope_params
        with self._transaction() as tx:
            now = time.time()
            current = {job_id: (row, digest) for job_id, row, digest in tx.execute(
                f"SELECT job_id, id, content_hash FROM jobs WHERE {scope}current = 1", sp).fetchall()}
            rows: dict[str, int] = {}
            inserts: list[tuple[Any, ...]] = []
            events: list[EventRow] = []
            for job in jobs:
                known = current.get(job.id)
                if known is not None and known[1] == job.content_hash:
                    rows[job.id] = known[0]
                    continue
                if known is not None:
                    tx.execute("UPDATE jobs SET current = 0, updated_at = ? WHERE id = ?", (now, known[0]))
                    events.append((now, known[0], None, None, "replaced", job.content_hash))
                earlier = tx.execute(f"SELECT id, state FROM jobs WHERE {scope}job_id = ? AND content_hash = ?",
                                     (*sp, job.id, job.content_hash)).fetchone()
                if earlier is not None:
                    tx.execute("UPDATE jobs SET current = 1, updated_at = ? WHERE id = ?", (now, earlier[0]))
                    events.append((now, earlier[0], None, earlier[1], "current", "content restored"))
                    rows[job.id] = earlier[0]
                    continue
                inserts.append((*sp, job.id, job.content_hash, job.model, canonical_json(job.body), JobState.PLANNED,
                                now, now))
            column, value = self._insert_scope
            if inserts:
                tx.executemany(f"INSERT INTO jobs ({column}job_id, content_hash, model, body, state, current,"
                               f" created_at, updated_at) VALUES ({value}?, ?, ?, ?, ?, 1, ?, ?)", inserts)
                new_ids = {row[len(sp)] for row in inserts}
                for job_id, row in tx.execute(f"SELECT job_id, id FROM jobs WHERE {scope}current = 1",
                                              sp).fetchall():
                    if job_id in new_ids:
                        rows[job_id] = row
                        events.append((now, row, None, None, JobState.PLANNED, None))
            if events:
                tx.executemany(INSERT_EVENT, with_offset(events, self.clock_offset))
        return rows

    def _write_now(self, *ops: Op) -> None:
        """Apply ``ops`` in one transaction, synchronously (the start-up steps here). Ops that are legal are
        committed even when another is not; then the first error is raised."""
        errors = [error for error in self._run_batch(list(ops)) if error is not None]
        if errors:
            raise errors[0]

    def recover_interrupted(self) -> list[int]:
        """Move jobs left in ``submitting`` by a crash to ``in_doubt``; return their rows.

        Called when a run starts: a ``submitting`` job from an earlier process may have been POSTed or not.
        After a takeover of a stale shared lock, the doubt names the old holder (`takeover.held_for_user`).
        """
        rows = [row for (row,) in self._query(f"SELECT id FROM jobs WHERE {self._scope}state = 'submitting'",
                                              self._scope_params)]
        error, err = "the run stopped while submitting: the job may or may not have been created", None
        if self.taken_over is not None:
            # Its holder may only be paused, with these POSTs about to go out: see `takeover`.
            from .takeover import doubt_error, doubt_marker

            error, err = doubt_error(self.taken_over), doubt_marker(self.taken_over)
        self._write_now(*(JobTransition(row, JobState.IN_DOUBT, error=error, err=err) for row in rows))
        return rows

    def set_meta(self, key: str, value: str) -> None:
        """Record a fact about the campaign's folder (durably, at once): for start-up, before any transition, and
        for commands that run outside a run (``review``, ``ledger push``)."""
        self._write_now(SetMeta(key, value))

    def export_content(self) -> dict[str, Any]:
        """The campaign's whole content, store-independent, read in one snapshot (`content.read_content`)."""
        from .content import read_content

        with self._snapshot() as query:
            return read_content(query, self._scope, self._scope_params, self._meta_scope)

    def import_content(self, content: dict[str, Any]) -> None:
        """Write ``content`` (an `export_content`) into this ledger, which holds nothing of the campaign: one
        transaction, with the times recorded."""
        from .content import write_content

        with self._transaction() as tx:
            write_content(tx, content, self._insert_scope, self._scope_params)

    # ---- a run's writes: shorthands of `write` (group commit) --------------------------------------------

    async def mark_submitting(self, row: int) -> None:
        """planned → submitting: the intent to POST, durable before the POST is sent."""
        await self.write(JobTransition(row, JobState.SUBMITTING))

    async def mark_submitted(self, row: int, remote_id: str) -> None:
        """submitting (or in_doubt) → submitted with the server's jobId."""
        await self.write(JobTransition(row, JobState.SUBMITTED, remote_id=remote_id))

    async def mark_in_doubt(self, row: int, error: str, err: str | None = None) -> None:
        """submitting → in_doubt: the POST was sent and its outcome is unknown."""
        await self.write(JobTransition(row, JobState.IN_DOUBT, error=error, err=err))

    async def mark_unsent(self, row: int, error: str | None = None) -> None:
        """submitting → planned: the POST provably never left (or never reached) this machine."""
        await self.write(JobTransition(row, JobState.PLANNED, error=error))

    async def mark_planned(self, row: int) -> None:
        """failed / in_doubt → planned: the user asked to try again (--retry-failed, --resubmit-in-doubt)."""
        await self.write(JobTransition(row, JobState.PLANNED))

    async def mark_failed(self, row: int, error: str, err: str | None = None, credits: float | None = None) -> None:
        """submitting / submitted / in_doubt → failed, with the message to show and the server's detail."""
        await self.write(JobTransition(row, JobState.FAILED, error=error, err=err, credits=credits))

    async def mark_succeeded(self, row: int, video_ids: Sequence[str], credits: float | None = None, *,
                             durable: bool = True) -> None:
        """submitted → succeeded; records the server's videos (numbered from 1) as pending."""
        await self.write(JobTransition(row, JobState.SUCCEEDED, video_ids=tuple(video_ids), credits=credits),
                         durable=durable)

    async def set_credits(self, row: int, credits: float) -> None:
        """Record a job's cost."""
        await self.write(SetCredits(row, credits))

    async def mark_video_preparing(self, row: int, n: int, *, durable: bool = True) -> None:
        """pending / ready → preparing: ``create-download`` was asked (again, for an expired URL)."""
        await self.write(VideoTransition(row, n, VideoState.PREPARING), durable=durable)

    async def mark_video_ready(self, row: int, n: int, url: str, *, durable: bool = True) -> None:
        """preparing → ready with the signed file URL."""
        await self.write(VideoTransition(row, n, VideoState.READY, url=url), durable=durable)

    async def mark_video_downloaded(self, row: int, n: int, path: str | PurePath, size: int, sha256: str) -> None:
        """ready → downloaded: the file is complete, fsynced and renamed to ``path`` (relative to the output)."""
        await self.write(VideoTransition(row, n, VideoState.DOWNLOADED, path=str(PurePath(path).as_posix()),
                                         bytes=size, sha256=sha256))

    async def mark_video_failed(self, row: int, n: int, error: str) -> None:
        """pending / preparing / ready → failed."""
        await self.write(VideoTransition(row, n, VideoState.FAILED, error=error))

    async def mark_video_pending(self, row: int, n: int) -> None:
        """failed / downloaded → pending: retry a failed video, or fetch again a file that went missing."""
        await self.write(VideoTransition(row, n, VideoState.PENDING))

    # ---- reads ------------------------------------------------------------------------------------------

    def _select_jobs(self, where: str, params: Sequence[Any] = ()) -> list[JobRecord]:
        """Jobs matching ``where`` (on table ``jobs``) with their videos: two queries in one snapshot."""
        where, params = self._scope + where, (*self._scope_params, *params)
        with self._snapshot() as query:
            job_rows = query(f"SELECT {JOB_COLUMNS} FROM jobs WHERE {where} ORDER BY jobs.id", params)
            video_rows = query(f"SELECT {VIDEO_COLUMNS} FROM videos v JOIN jobs ON jobs.id = v.job WHERE {where}"
                               " ORDER BY v.job, v.n", params)
        videos: defaultdict[int, list[VideoRecord]] = defaultdict(list)
        for r in video_rows:
            videos[r[0]].append(video_record(r))
        del video_rows  # a full read holds 20,000 records: the rows are not kept beside them
        models: dict[str, str] = {}
        return [job_record(r, videos.pop(r[0], ()), models) for r in job_rows]

    def jobs(self) -> list[JobRecord]:
        """Every job's current version, with its videos, in the order they were first recorded."""
        return self._select_jobs("jobs.current = 1")

    def job(self, job_id: str) -> JobRecord | None:
        """The current version of spec job ``job_id``, or ``None``."""
        found = self._select_jobs("jobs.current = 1 AND jobs.job_id = ?", (job_id,))
        return found[0] if found else None

    def record(self, row: int) -> JobRecord:
        """Job version ``row`` (current or not)."""
        found = self._select_jobs("jobs.id = ?", (row,))
        if not found:
            raise UnknownRecord(f"no job row {row} in the ledger")
        return found[0]

    def versions(self, job_id: str) -> list[JobRecord]:
        """Every recorded version of ``job_id``, oldest first."""
        return self._select_jobs("jobs.job_id = ?", (job_id,))

    def count_current(self) -> int:
        """How many jobs the ledger holds (their current versions), counted by the store."""
        return int(self._query(f"SELECT count(*) FROM jobs WHERE {self._scope}current = 1", self._scope_params)[0][0])

    def current_outside(self, held: Container[str]) -> list[JobRecord]:
        """The current versions of the jobs whose ids are not in ``held`` (a run's jobs): read by their rows, so
        that a run of 20,000 jobs does not read (and hold) every record again to find the few others."""
        query = f"SELECT id, job_id FROM jobs WHERE {self._scope}current = 1 ORDER BY id"
        return self.records_at([row for row, job_id in self._query(query, self._scope_params) if job_id not in held])

    def lacking_credits(self) -> list[JobRecord]:
        """Job versions (current or not) created on the server and finished whose credits are not recorded: the
        few that ``GET /jobs`` is asked about, selected by the store rather than out of every record."""
        return self._select_jobs("jobs.remote_id IS NOT NULL AND jobs.credits IS NULL AND jobs.submitted_at IS NOT"
                                 " NULL AND jobs.state IN (?, ?)", (JobState.SUCCEEDED.value, JobState.FAILED.value))

    def in_doubt(self) -> list[JobRecord]:
        """The current versions in doubt (sent, with no answer recorded): the few a run judges first, selected by
        the store rather than out of every record."""
        return self._select_jobs("jobs.current = 1 AND jobs.state = ?", (JobState.IN_DOUBT.value,))

    def replaced(self) -> list[JobRecord]:
        """Every version that is no longer current (the spec's content changed since), oldest first. Read again
        only when the ledger's revision has moved: a run's start asks for them five times, and each read goes
        through every job (no index has ``current = 0``)."""
        revision = self.revision()  # before the read: a write between the two makes the next call read again
        if self._replaced is None or self._replaced[0] != revision:
            self._replaced = (revision, self._select_jobs("jobs.current = 0"))
        return list(self._replaced[1])

    def body(self, row: int) -> dict[str, Any]:
        """The request body recorded for job version ``row``."""
        found = self._query(f"SELECT body FROM jobs WHERE {self._scope}id = ?", (*self._scope_params, row))
        if not found:
            raise UnknownRecord(f"no job row {row} in the ledger")
        return json.loads(found[0][0])

    def videos(self, row: int) -> list[VideoRecord]:
        """The videos of job version ``row``, by number."""
        return list(self.record(row).videos)

    def anything_sent(self) -> bool:
        """Whether a submission was ever attempted for this campaign (one may have created a job)."""
        return bool(self._query(f"SELECT 1 FROM jobs WHERE {self._scope}(attempts > 0 OR remote_id IS NOT NULL)"
                                " LIMIT 1", self._scope_params))

    def paid_by_other_campaigns(self) -> Iterator[tuple[dict[str, Any], float]]:
        """(request body, credits) of every succeeded job version with known credits of every OTHER campaign
        this store holds: prices to learn from. A folder's ledger holds one campaign, so none here."""
        return iter(())

    def meta(self, key: str) -> str | None:
        """A fact recorded about the campaign's folder (`set_meta`), or ``None``."""
        found = self._query(f"SELECT value FROM meta WHERE {self._meta_scope}key = ?", (*self._scope_params, key))
        return found[0][0] if found else None

    def remote_ids(self) -> set[str]:
        """Every server job id the ledger knows, current versions or not (to reconcile in-doubt jobs)."""
        return {rid for (rid,) in self._query(f"SELECT remote_id FROM jobs WHERE {self._scope}remote_id IS NOT NULL",
                                              self._scope_params)}

    def events(self, row: int) -> list[Event]:
        """The audit trail of job version ``row`` (its videos' transitions included), oldest first."""
        rows = self._query("SELECT at, job, n, from_state, to_state, detail, clock_offset FROM events WHERE job = ?"
                           " ORDER BY id", (row,))
        return [Event(*r) for r in rows]

    def counts(self) -> dict[str, dict[str, int]]:
        """Current job versions per state and their videos per state: ``{"jobs": {...}, "videos": {...}}``."""
        scope, sp = self._scope, self._scope_params
        with self._snapshot() as query:
            jobs = dict(query(f"SELECT state, count(*) FROM jobs WHERE {scope}current = 1 GROUP BY state", sp))
            videos = dict(query("SELECT v.state, count(*) FROM videos v JOIN jobs ON jobs.id = v.job"
                                f" WHERE {scope}jobs.current = 1 GROUP BY v.state", sp))
        return {"jobs": jobs, "videos": videos}

    def reconcile(self, planned: Sequence[PlannedJob], current: Iterable[JobRecord] | None = None
                  ) -> Reconciliation:
        """Compare the spec's jobs with the ledger (see `Disposition`); reads only. ``current``: the `jobs` the
        caller has just read, so that the ledger is not read (and held) twice; else they are read a page at a time
        (a full read holds the rows beside the records made of them: 100 MB more at 100,000 jobs)."""
        records = {record.job_id: record for record in (self.iter_jobs() if current is None else current)}
        items = []
        for job in planned:
            record = records.pop(job.id, None)
            items.append(ReconciledJob(job.id, disposition(job, record), job, record))
        orphaned = [ReconciledJob(r.job_id, Disposition.ORPHANED, None, r) for r in records.values()]
        return Reconciliation(items, orphaned)
