"""The ledger: one SQLite database per campaign output folder, the single source of truth of a run.

Every step of the pipeline is a state transition recorded here *before* the action that depends on it:
the intent to submit before the POST, the jobId as soon as it arrives, a file only once it is complete and
renamed into place. A crash, a Ctrl-C or a rerun therefore resumes from what the ledger says, and a job is
never paid for twice without the user deciding so (``in_doubt``).

Layout: ``<output>/.photogpt-batch/ledger.sqlite3`` (WAL mode, ``synchronous=FULL``) and a ``lock`` file
beside it that a runner holds with ``flock`` for as long as it runs.

Jobs are rows keyed by an integer ``rowid``; a spec job id can have several *versions* (one per content
hash) of which exactly one is ``current``: when a job's content changes in the spec, `Ledger.register`
records a new version and keeps the old one, with its remote job and files, for the record.

Writes come in two flavours:

* ``await ledger.mark_...(...)``: group commit. Concurrent callers' transitions are queued; a writer task
  applies everything queued in ONE transaction on the event loop's thread (plain SQL on pages in memory:
  microseconds) and hands only the ``COMMIT`` (the fsync) to a dedicated thread; each caller resumes once
  that transaction is durable. So 64 concurrent transitions cost about one fsync, not 64, and each commit
  is one thread hand-off, not one per statement (the thread never competes with the loop for the GIL).
  ``durable=False`` (for bookkeeping no later action depends on, such as "a download is being prepared")
  queues the transition without waiting: it rides with the next commit, at most `LAZY_COMMIT_DELAY`
  seconds later.
* ``ledger.commit(op, ...)``, `Ledger.register`, `Ledger.recover_interrupted`: synchronous, for start-up
  work and for tests.

Every transition is checked against `JOB_TRANSITIONS` / `VIDEO_TRANSITIONS`; an illegal one raises
`IllegalTransition` and changes nothing (other transitions in the same batch still commit).
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import json
import logging
import os
import re
import sqlite3
import stat
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePath
from types import TracebackType
from typing import Any, ClassVar, NamedTuple, Self

from .durable import LinkRefused, check_owned_dir, fsync_dir, open_owned
from .jobs import PlannedJob, canonical_json
from .manifest import MANIFEST

log = logging.getLogger(__name__)

LEDGER_DIR = ".photogpt-batch"
LEDGER_FILE = "ledger.sqlite3"
LOCK_FILE = "lock"
#: Written into the SQLite header (``PRAGMA application_id``): tells our ledgers from other databases.
APPLICATION_ID = 0x50474254  # "PGBT"
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: Most transitions committed in one transaction: bounds the latency a big burst adds to its last caller.
MAX_BATCH = 1024
#: The longest a transition queued with ``durable=False`` waits for a commit to ride with.
LAZY_COMMIT_DELAY = 0.5
#: How long SQLite waits for another program's lock on the ledger (a database browser, a backup) to go.
BUSY_TIMEOUT = 30.0


class JobState(StrEnum):
    """Where a job version is: planned → submitting → submitted → succeeded / failed, or in_doubt."""

    PLANNED = "planned"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"


class VideoState(StrEnum):
    """Where one video of a succeeded job is: pending → preparing → ready → downloaded, or failed."""

    PENDING = "pending"
    PREPARING = "preparing"
    READY = "ready"
    DOWNLOADED = "downloaded"
    FAILED = "failed"


#: The legal job transitions, and why each exists.
JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PLANNED: frozenset({JobState.SUBMITTING}),
    JobState.SUBMITTING: frozenset(
        {
            JobState.SUBMITTED,  # the jobId arrived
            JobState.IN_DOUBT,  # sent, outcome unknown
            JobState.FAILED,  # refused for certain (400, 404...)
            JobState.PLANNED,  # provably never sent (connection refused, interrupted before sending)
        }
    ),
    JobState.SUBMITTED: frozenset({JobState.SUCCEEDED, JobState.FAILED}),
    JobState.SUCCEEDED: frozenset(),
    # --retry-failed
    JobState.FAILED: frozenset({JobState.PLANNED}),
    # found on the server / the user resubmits (or reconciliation shows it never arrived) / the user gives up
    JobState.IN_DOUBT: frozenset({JobState.SUBMITTED, JobState.PLANNED, JobState.FAILED}),
}

#: The legal video transitions.
VIDEO_TRANSITIONS: dict[VideoState, frozenset[VideoState]] = {
    VideoState.PENDING: frozenset({VideoState.PREPARING, VideoState.FAILED}),
    VideoState.PREPARING: frozenset({VideoState.READY, VideoState.FAILED}),
    # PREPARING again: the signed URL expired and a fresh one is needed.
    VideoState.READY: frozenset({VideoState.DOWNLOADED, VideoState.PREPARING, VideoState.FAILED}),
    # PENDING again: the file went missing from the folder and must be fetched again.
    VideoState.DOWNLOADED: frozenset({VideoState.PENDING}),
    # --retry-failed
    VideoState.FAILED: frozenset({VideoState.PENDING}),
}


class Disposition(StrEnum):
    """A spec job compared with the ledger (what ``plan`` shows and what ``run`` acts on)."""

    NEW = "new"  # nothing sent yet for this content
    CHANGED = "changed"  # the id is known, with other content
    IN_FLIGHT = "in_flight"  # submitting, submitted, or succeeded with files still to download
    DONE = "done"  # succeeded, every video downloaded
    FAILED = "failed"  # the job or one of its videos failed
    IN_DOUBT = "in_doubt"  # a submission whose outcome is unknown
    ORPHANED = "orphaned"  # in the ledger, no longer in the spec


# ---- migrations ------------------------------------------------------------------------------------------
#: Numbered schema steps: ``MIGRATIONS[k]`` takes a ledger from version ``k`` to ``k + 1``. Append only:
#: a ledger written by any released version must open with every later one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: jobs (one row per version of a spec job) and their videos.
    (
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            job_id TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            model TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL,
            remote_id TEXT,
            error TEXT,
            err TEXT,
            credits REAL,
            current INTEGER NOT NULL DEFAULT 1 CHECK (current IN (0, 1)),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            UNIQUE (job_id, content_hash)
        )""",
        "CREATE UNIQUE INDEX jobs_current_job_id ON jobs (job_id) WHERE current = 1",
        """CREATE TABLE videos (
            job INTEGER NOT NULL REFERENCES jobs (id),
            n INTEGER NOT NULL CHECK (n >= 1),
            video_id TEXT,
            state TEXT NOT NULL,
            url TEXT,
            path TEXT,
            bytes INTEGER,
            sha256 TEXT,
            error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (job, n)
        )""",
    ),
    # 2: submission attempts and time, an audit trail of transitions, and lookups by server job id.
    (
        "ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN submitted_at REAL",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            job INTEGER NOT NULL REFERENCES jobs (id),
            n INTEGER,
            from_state TEXT,
            to_state TEXT NOT NULL,
            detail TEXT
        )""",
        "CREATE INDEX events_job ON events (job, n)",
        "CREATE INDEX jobs_remote_id ON jobs (remote_id) WHERE remote_id IS NOT NULL",
    ),
    # 3: facts about the folder as a whole (which campaign it belongs to, which API its jobs live on).
    ("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",),
)
SCHEMA_VERSION = len(MIGRATIONS)


# ---- errors ----------------------------------------------------------------------------------------------
class LedgerError(Exception):
    """Something is wrong with the ledger or with what was asked of it."""


class LedgerLocked(LedgerError):
    """Another runner holds the output folder's lock."""

    def __init__(self, folder: Path, pid: int | None) -> None:
        holder = f"process {pid}" if pid else "another process"
        super().__init__(
            f"{folder} is in use by another photogpt-batch run ({holder}); "
            "wait for it to finish or stop it, then run again"
        )
        self.folder = folder
        self.pid = pid


class LedgerCorrupt(LedgerError):
    """The file at the ledger's path is not a (readable) photogpt-batch ledger. It is never modified."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}; it was left untouched: move it away or choose another output folder")
        self.path = path


class LedgerUnusable(LedgerError):
    """The ledger cannot be opened as asked: locked by another program, or not writable. Nothing changed."""


class LedgerTooNew(LedgerError):
    """The ledger was written by a newer photogpt-batch, with a schema this one does not know."""

    def __init__(self, path: Path, version: int) -> None:
        super().__init__(
            f"{path} has ledger schema version {version}, but this photogpt-batch knows versions up to "
            f"{SCHEMA_VERSION}: upgrade photogpt-batch to use this output folder"
        )
        self.path = path
        self.version = version


class IllegalTransition(LedgerError):
    """A transition the state machine does not allow; nothing was changed."""


class UnknownRecord(LedgerError):
    """A transition names a job row or video that is not in the ledger."""


class ReadOnlyLedger(LedgerError):
    """A write was attempted on a ledger opened for reading."""


# ---- records ---------------------------------------------------------------------------------------------
# Records are NamedTuples: immutable like frozen dataclasses, and several times cheaper to build, which
# matters when a read returns 100,000 of them.
class VideoRecord(NamedTuple):
    """One video of a job version (job row ``job``), as recorded."""

    job: int
    n: int
    video_id: str | None
    state: VideoState
    url: str | None
    path: str | None
    bytes: int | None
    sha256: str | None
    error: str | None
    updated_at: float


def pending_videos(row: int, video_ids: Sequence[str], at: float) -> tuple[VideoRecord, ...]:
    """The videos a success records for job row ``row``: the server's ids in order, numbered from 1, pending."""
    return tuple(VideoRecord(row, n, video_id, VideoState.PENDING, None, None, None, None, None, at)
                 for n, video_id in enumerate(video_ids, 1))


class JobRecord(NamedTuple):
    """One version of a job, as recorded (its request body is read separately: `Ledger.body`)."""

    rowid: int
    job_id: str
    model: str
    content_hash: str
    state: JobState
    current: bool
    remote_id: str | None
    error: str | None
    err: str | None
    credits: float | None
    attempts: int
    submitted_at: float | None
    created_at: float
    updated_at: float
    videos: tuple[VideoRecord, ...] = ()

    @property
    def all_downloaded(self) -> bool:
        """Succeeded and every video downloaded."""
        return self.state is JobState.SUCCEEDED and all(v.state is VideoState.DOWNLOADED for v in self.videos)


class Event(NamedTuple):
    """One recorded transition (``n`` is set for a video's).

    Besides states, ``to_state`` can be ``replaced`` (this version stopped being current: the spec's
    content changed; ``detail`` is the new content hash), ``current`` (an earlier version became current
    again because the spec went back to its content) or, for a video, ``moved`` (its file was moved to
    ``detail``, so that another version's file never replaces it).
    """

    at: float
    job: int
    n: int | None
    from_state: str | None
    to_state: str
    detail: str | None


class Reconciled(NamedTuple):
    """A job of the spec (or an orphan of the ledger) and what the ledger says about it."""

    job_id: str
    disposition: Disposition
    planned: PlannedJob | None
    record: JobRecord | None


@dataclass(frozen=True)
class Reconciliation:
    """The spec compared with the ledger: spec jobs in spec order, then ledger jobs the spec dropped."""

    jobs: list[Reconciled]
    orphaned: list[Reconciled]

    @property
    def counts(self) -> dict[Disposition, int]:
        """How many jobs in each disposition (orphans included)."""
        return dict(Counter(item.disposition for item in (*self.jobs, *self.orphaned)))


def disposition(planned: PlannedJob, record: JobRecord | None) -> Disposition:
    """What a spec job's current ledger version means for ``plan`` and ``run``."""
    if record is None:
        return Disposition.NEW
    if record.content_hash != planned.content_hash:
        return Disposition.CHANGED
    match record.state:
        case JobState.PLANNED:
            return Disposition.NEW
        case JobState.SUBMITTING | JobState.SUBMITTED:
            return Disposition.IN_FLIGHT
        case JobState.IN_DOUBT:
            return Disposition.IN_DOUBT
        case JobState.FAILED:
            return Disposition.FAILED
    states = {video.state for video in record.videos}
    if VideoState.FAILED in states:
        return Disposition.FAILED
    return Disposition.IN_FLIGHT if states - {VideoState.DOWNLOADED} else Disposition.DONE


# ---- operations ------------------------------------------------------------------------------------------
_EventRow = tuple[float, int, int | None, str | None, str, str | None]


class Op:
    """A write to the ledger; applied inside a transaction, it validates before it changes anything."""

    def apply(self, conn: sqlite3.Connection, now: float) -> list[_EventRow]:  # pragma: no cover - abstract
        """Apply to ``conn`` (inside a transaction); return the audit events to record."""
        raise NotImplementedError


def _job_row(conn: sqlite3.Connection, row: int) -> tuple[JobState, str]:
    found = conn.execute("SELECT state, job_id FROM jobs WHERE id = ?", (row,)).fetchone()
    if found is None:
        raise UnknownRecord(f"no job row {row} in the ledger")
    return JobState(found[0]), found[1]


@dataclass(frozen=True)
class JobTransition(Op):
    """Move job row ``row`` to state ``to``, with the fields that state needs.

    ``remote_id`` is required for ``submitted``; ``video_ids`` (the server's, in order) for ``succeeded``,
    which creates the job's videos as ``pending``, numbered from 1. ``error``/``err`` replace the job's
    recorded error (``None`` clears it).
    """

    row: int
    to: JobState
    remote_id: str | None = None
    error: str | None = None
    err: str | None = None
    credits: float | None = None
    video_ids: tuple[str, ...] = ()

    _SQL: ClassVar[dict[JobState, str]] = {
        JobState.PLANNED: "UPDATE jobs SET state = ?, remote_id = NULL, error = ?, err = ?, updated_at = ?"
        " WHERE id = ?",
        JobState.SUBMITTING: "UPDATE jobs SET state = ?, attempts = attempts + 1, error = ?, err = ?,"
        " updated_at = ? WHERE id = ?",
        JobState.SUBMITTED: "UPDATE jobs SET state = ?, remote_id = ?, error = ?, err = ?, submitted_at = ?,"
        " updated_at = ? WHERE id = ?",
        JobState.SUCCEEDED: "UPDATE jobs SET state = ?, credits = coalesce(?, credits), error = ?, err = ?,"
        " updated_at = ? WHERE id = ?",
        JobState.FAILED: "UPDATE jobs SET state = ?, credits = coalesce(?, credits), error = ?, err = ?,"
        " updated_at = ? WHERE id = ?",
        JobState.IN_DOUBT: "UPDATE jobs SET state = ?, error = ?, err = ?, updated_at = ? WHERE id = ?",
    }

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", JobState(self.to))
        object.__setattr__(self, "video_ids", tuple(self.video_ids))
        if self.to is JobState.SUBMITTED and not (isinstance(self.remote_id, str) and self.remote_id):
            raise ValueError("a transition to submitted needs the server's job id (remote_id)")
        if not all(isinstance(v, str) and v for v in self.video_ids):
            raise ValueError("video ids must be non-empty strings")
        if self.video_ids and self.to is not JobState.SUCCEEDED:
            raise ValueError("video ids are recorded only with a transition to succeeded")

    def apply(self, conn: sqlite3.Connection, now: float) -> list[_EventRow]:
        """Validate against `JOB_TRANSITIONS`, update the row, create videos on success."""
        current, job_id = _job_row(conn, self.row)
        if self.to not in JOB_TRANSITIONS[current]:
            raise IllegalTransition(f"job {job_id!r} (row {self.row}) cannot go from {current} to {self.to}")
        match self.to:
            case JobState.SUBMITTED:
                params: tuple[Any, ...] = (self.to, self.remote_id, self.error, self.err, now, now, self.row)
            case JobState.SUCCEEDED | JobState.FAILED:
                params = (self.to, self.credits, self.error, self.err, now, self.row)
            case _:
                params = (self.to, self.error, self.err, now, self.row)
        conn.execute(self._SQL[self.to], params)
        if self.video_ids:
            conn.executemany(
                "INSERT INTO videos (job, n, video_id, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(v.job, v.n, v.video_id, v.state, now, now) for v in pending_videos(self.row, self.video_ids, now)],
            )
        detail = self.remote_id if self.to is JobState.SUBMITTED else self.error
        return [(now, self.row, None, current, self.to, detail)]


@dataclass(frozen=True)
class VideoTransition(Op):
    """Move video ``n`` of job row ``row`` to state ``to``, with the fields that state needs.

    ``url`` is required for ``ready``; ``path`` (relative to the output folder), ``bytes`` and ``sha256``
    for ``downloaded``. Going back to ``pending`` clears the file fields.
    """

    row: int
    n: int
    to: VideoState
    url: str | None = None
    path: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    error: str | None = None

    _SQL: ClassVar[dict[VideoState, str]] = {
        VideoState.PENDING: "UPDATE videos SET state = ?, url = NULL, path = NULL, bytes = NULL, sha256 = NULL,"
        " error = ?, updated_at = ? WHERE job = ? AND n = ?",
        VideoState.PREPARING: "UPDATE videos SET state = ?, error = ?, updated_at = ? WHERE job = ? AND n = ?",
        VideoState.READY: "UPDATE videos SET state = ?, url = ?, error = ?, updated_at = ? WHERE job = ? AND n = ?",
        VideoState.DOWNLOADED: "UPDATE videos SET state = ?, path = ?, bytes = ?, sha256 = ?, error = ?,"
        " updated_at = ? WHERE job = ? AND n = ?",
        VideoState.FAILED: "UPDATE videos SET state = ?, error = ?, updated_at = ? WHERE job = ? AND n = ?",
    }

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", VideoState(self.to))
        if isinstance(self.path, PurePath):
            object.__setattr__(self, "path", self.path.as_posix())
        if self.to is VideoState.READY and not self.url:
            raise ValueError("a transition to ready needs the download url")
        if self.to is VideoState.DOWNLOADED:
            if not self.path or PurePath(self.path).is_absolute() or ".." in PurePath(self.path).parts:
                raise ValueError("a downloaded video needs a path relative to (and inside) the output folder")
            if self.bytes is None or self.bytes < 0 or not self.sha256:
                raise ValueError("a downloaded video needs its size in bytes and its sha256")

    def apply(self, conn: sqlite3.Connection, now: float) -> list[_EventRow]:
        """Validate against `VIDEO_TRANSITIONS` and update the video row."""
        found = conn.execute("SELECT state FROM videos WHERE job = ? AND n = ?", (self.row, self.n)).fetchone()
        if found is None:
            raise UnknownRecord(f"no video {self.n} of job row {self.row} in the ledger")
        current = VideoState(found[0])
        if self.to not in VIDEO_TRANSITIONS[current]:
            _, job_id = _job_row(conn, self.row)
            raise IllegalTransition(
                f"video {self.n} of job {job_id!r} (row {self.row}) cannot go from {current} to {self.to}"
            )
        key = (self.row, self.n)
        match self.to:
            case VideoState.READY:
                params: tuple[Any, ...] = (self.to, self.url, self.error, now, *key)
            case VideoState.DOWNLOADED:
                params = (self.to, self.path, self.bytes, self.sha256, self.error, now, *key)
            case _:
                params = (self.to, self.error, now, *key)
        conn.execute(self._SQL[self.to], params)
        detail = self.path if self.to is VideoState.DOWNLOADED else self.error
        return [(now, self.row, self.n, current, self.to, detail)]


@dataclass(frozen=True)
class SetCredits(Op):
    """Record what a job cost (``GET /jobs`` reports it), whatever its state."""

    row: int
    credits: float

    def apply(self, conn: sqlite3.Connection, now: float) -> list[_EventRow]:
        """Update the credits column."""
        if (
            conn.execute(
                "UPDATE jobs SET credits = ?, updated_at = ? WHERE id = ?", (self.credits, now, self.row)
            ).rowcount
            != 1
        ):
            raise UnknownRecord(f"no job row {self.row} in the ledger")
        return []


@dataclass(frozen=True)
class SetMeta(Op):
    """Record a fact about the folder as a whole (which campaign, which API), replacing an earlier one."""

    key: str
    value: str

    def apply(self, conn: sqlite3.Connection, now: float) -> list[_EventRow]:
        """Upsert the ``meta`` row."""
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value ="
                     " excluded.value", (self.key, self.value))
        return []


@dataclass(frozen=True)
class MoveVideo(Op):
    """Record that downloaded video ``n`` of job row ``row`` now lives at ``path`` (relative to the output
    folder): an earlier version's file moved to its own folder so the new version's never replaces it."""

    row: int
    n: int
    path: str

    def __post_init__(self) -> None:
        if not self.path or PurePath(self.path).is_absolute() or ".." in PurePath(self.path).parts:
            raise ValueError("a video's path must be relative to (and inside) the output folder")

    def apply(self, conn: sqlite3.Connection, now: float) -> list[_EventRow]:
        """Update the path of a downloaded video; event ``moved`` with the new path."""
        found = conn.execute("SELECT state FROM videos WHERE job = ? AND n = ?", (self.row, self.n)).fetchone()
        if found is None:
            raise UnknownRecord(f"no video {self.n} of job row {self.row} in the ledger")
        if found[0] != VideoState.DOWNLOADED:
            raise IllegalTransition(f"video {self.n} of job row {self.row} is {found[0]}, not downloaded: "
                                    "it has no file to move")
        conn.execute("UPDATE videos SET path = ?, updated_at = ? WHERE job = ? AND n = ?",
                     (self.path, now, self.row, self.n))
        return [(now, self.row, self.n, VideoState.DOWNLOADED, "moved", self.path)]


class _Barrier(Op):
    """Changes nothing: `Ledger.flush` queues one and waits for its (group) commit."""

    def apply(self, conn: sqlite3.Connection, now: float) -> list[_EventRow]:
        """Nothing to do."""
        return []


def _apply_each(conn: sqlite3.Connection, ops: Sequence[tuple[Op, float]]
                ) -> tuple[list[Exception | None], list[_EventRow]]:
    """Apply each (op, time) in a savepoint of its own: one that fails is rolled back alone and its error
    returned in its place."""
    results: list[Exception | None] = []
    events: list[_EventRow] = []
    for op, at in ops:
        conn.execute("SAVEPOINT op")
        try:
            events.extend(op.apply(conn, at))
        except (LedgerError, sqlite3.IntegrityError) as exc:
            conn.execute("ROLLBACK TO op")
            results.append(exc if isinstance(exc, LedgerError) else LedgerError(f"{op}: {exc}"))
        else:
            results.append(None)
        conn.execute("RELEASE op")
    return results, events


def _fail_all(batch: Sequence[tuple[Op, asyncio.Future[None], float]], exc: BaseException) -> None:
    for _, done, _ in batch:
        if not done.done():
            done.set_exception(exc)


def _log_lazy_failure(done: asyncio.Future[None]) -> None:
    """Nobody awaits a ``durable=False`` transition: say what went wrong (and mark the error as seen)."""
    if not done.cancelled() and done.exception() is not None:
        log.warning("a ledger transition queued without waiting failed: %s", done.exception())


# ---- files, lock, schema ---------------------------------------------------------------------------------
def ledger_path(output: Path) -> Path:
    """The ledger file of an output folder."""
    return Path(output) / LEDGER_DIR / LEDGER_FILE


class _FolderLock:
    """An exclusive, non-blocking ``flock`` on ``<output>/.photogpt-batch/lock``, holding the owner's PID.

    The kernel drops it when the process dies, however it dies, so a crashed run never leaves a stale lock.
    """

    def __init__(self, output: Path) -> None:
        path = Path(output) / LEDGER_DIR / LOCK_FILE
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


def _check_header(path: Path) -> None:
    """Refuse, before SQLite touches it, a file that is not an SQLite database. An empty file is a new ledger."""
    if path.is_symlink():  # SQLite would follow it, and write its journal beside wherever it points
        raise LinkRefused(path)
    with open(path, "rb") as existing:
        head = existing.read(len(_SQLITE_MAGIC))
    if head and head != _SQLITE_MAGIC:
        raise LedgerCorrupt(path, "this file is not a photogpt-batch ledger (not an SQLite database)")


def _schema_version(conn: sqlite3.Connection, path: Path) -> int | None:
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
def _expected_columns() -> dict[str, frozenset[str]]:
    """Every table of a current ledger and its columns, as the migrations make them."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        _migrate(conn, Path(":memory:"), None)
        return _columns(conn)
    finally:
        conn.close()


def _columns(conn: sqlite3.Connection) -> dict[str, frozenset[str]]:
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: frozenset(row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (t,))) for t in tables}


def _check_contents(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a ledger whose tables or states were damaged (by hand, or by another tool): acting on one could
    send a job again or lose track of a file. Reads only; about 25 ms for 100,000 jobs."""
    found = _columns(conn)
    for table, columns in _expected_columns().items():
        missing = columns - found.get(table, frozenset())
        if missing:
            what = f"table {table!r} is missing" if table not in found else \
                f"table {table!r} lacks {', '.join(sorted(missing))}"
            raise LedgerCorrupt(path, f"the ledger is damaged ({what})")
    for table, states in (("jobs", _JOB_STATES), ("videos", _VIDEO_STATES)):
        for (state,) in conn.execute(f"SELECT DISTINCT state FROM {table}"):
            if state not in states:
                raise LedgerCorrupt(path, f"the ledger is damaged (a row of {table!r} has the unknown state "
                                          f"{state!r})")


_MANIFEST_JOB_ID = re.compile(rb'"jobId":"((?:[^"\\\n]|\\.)*)"')  # within one line


def _check_manifest_known(output: Path, path: Path, conn: sqlite3.Connection) -> None:
    """Refuse a ledger that does not know jobs the folder's manifest lists: it was deleted, emptied, restored
    from an older backup or left behind in a copy, and running on it would submit (and pay for) those jobs
    again. The manifest is written from the ledger, so a healthy ledger knows every jobId in it."""
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
    for raw in _MANIFEST_JOB_ID.findall(data):
        try:
            job_id = json.loads(b'"' + raw + b'"') if b"\\" in raw else raw.decode("utf-8")
        except ValueError:
            continue
        if job_id:
            listed.add(job_id)
    if not listed:
        return
    known = {rid for (rid,) in conn.execute("SELECT remote_id FROM jobs WHERE remote_id IS NOT NULL")}
    unknown = listed - known
    if unknown:
        what = "is missing or empty" if not known else "is older than the folder's files (restored from a backup?)"
        raise LedgerError(
            f"{path} {what}: it does not know {len(unknown)} job(s) that {manifest} lists (such as "
            f"{min(unknown)}), so running would submit and pay for them again. Restore a ledger that knows "
            f"them, or move {manifest.name} away to go ahead anyway")


def _needs_write_access(exc: LedgerCorrupt) -> bool:
    """Whether a read failed only because SQLite could not open its WAL index (a folder we cannot write)."""
    cause = exc.__cause__
    return isinstance(cause, sqlite3.Error) and any(
        text in str(cause).lower() for text in ("readonly", "read-only", "unable to open"))


def _reader(path: Path) -> tuple[sqlite3.Connection, int | None]:
    """A read-only connection to the ledger at ``path`` and its schema version; in a folder we cannot write,
    the immutable one (`_open_without_write_access`)."""
    conn = _connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return conn, _schema_version(conn, path)
    except LedgerCorrupt as exc:
        conn.close()
        if not _needs_write_access(exc):
            raise
    except BaseException:
        conn.close()
        raise
    conn = _open_without_write_access(path)
    try:
        return conn, _schema_version(conn, path)
    except BaseException:
        conn.close()
        raise


def _open_without_write_access(path: Path) -> sqlite3.Connection:
    """A read connection to a ledger in a folder we cannot write (``status`` by another user, a read-only
    mount). SQLite then cannot share its WAL index, so the file is read as it stands (``immutable``): right
    when no write-ahead log is left over, which is how a run that ended leaves it. A leftover log holds
    transitions the file does not have yet: reading without it would show an older state, so that is refused."""
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise LedgerUnusable(f"{path} cannot be read without write access to {path.parent}: the last run did not "
                             "finish cleanly, and its log must be applied first. Run this as a user who can write "
                             "there, or rerun the campaign")
    return _connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)


def _unusable(path: Path, exc: sqlite3.Error) -> LedgerError:
    """The error to report for an SQLite failure while opening the ledger at ``path``."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return LedgerUnusable(f"{path} is locked by another program (a database browser or a backup?); close "
                              "it and run again")
    if "readonly" in text or "read-only" in text or "unable to open" in text or "disk i/o" in text:
        return LedgerUnusable(f"{path} cannot be written ({exc}); check the permissions of it, the files "
                              "beside it and its folder")
    return LedgerCorrupt(path, f"the database cannot be used ({exc})")


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already (it does after SQLITE_FULL, for one): a
    ROLLBACK without a transaction would raise and hide the error that led here."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _migrate(conn: sqlite3.Connection, path: Path, version: int | None) -> None:
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
            _rollback(conn)
            raise


def _connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT), never implicit.
    # check_same_thread=False: the group-commit thread and the caller's thread share a connection, one at a
    # time, under the ledger's locks.
    conn = sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _configure_for_writing(conn: sqlite3.Connection, path: Path) -> None:
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal" and str(path) != ":memory:":
        raise LedgerError(f"{path}: cannot switch the ledger to WAL mode (got {mode!r})")
    # FULL: in WAL mode every commit fsyncs the WAL, so a committed transition survives a power loss.
    conn.execute("PRAGMA synchronous = FULL")
    # macOS's fsync does not reach the platters; F_FULLFSYNC does. No effect elsewhere.
    conn.execute("PRAGMA fullfsync = ON")


_JOB_COLUMNS = (
    "jobs.id, jobs.job_id, jobs.model, jobs.content_hash, jobs.state, jobs.current, jobs.remote_id, jobs.error,"
    " jobs.err, jobs.credits, jobs.attempts, jobs.submitted_at, jobs.created_at, jobs.updated_at"
)
_VIDEO_COLUMNS = "v.job, v.n, v.video_id, v.state, v.url, v.path, v.bytes, v.sha256, v.error, v.updated_at"
_INSERT_EVENT = "INSERT INTO events (at, job, n, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?, ?)"
# Plain dict lookups: calling the enum class costs several times more, and reads build 100,000s of records.
_JOB_STATES = {state.value: state for state in JobState}
_VIDEO_STATES = {state.value: state for state in VideoState}


class Ledger:
    """The ledger of one output folder. Open it with `open_for_run` or `open_for_reading`."""

    def __init__(
        self,
        path: Path,
        write_conn: sqlite3.Connection | None,
        read_conn: sqlite3.Connection,
        lock: _FolderLock | None,
    ) -> None:
        self.path = path
        self._wconn = write_conn
        self._rconn = read_conn
        self._lock = lock
        self._write_mutex = threading.Lock()
        self._read_mutex = threading.Lock()
        # One dedicated thread: SQLite work stays off the event loop, and always on the same thread.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ledger-writer") if write_conn else None
        # Group commit state, all touched on the event loop's thread only.
        self._pending: list[tuple[Op, asyncio.Future[None], float]] = []  # (op, its caller's future, queued at)
        self._wanted: asyncio.Event | None = None  # set when the pending ops should be committed now
        self._lazy_timer: asyncio.TimerHandle | None = None
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._closed = False
        # A `durable=False` op that SQLite could not commit (a full disk): every later write raises it, so a
        # transition that depends on the lost one is never tried on a state it did not reach.
        self._lazy_failure: sqlite3.Error | None = None
        #: Transactions committed so far (each is one fsync of the WAL): for tests and benchmarks.
        self.commits = 0

    # ---- opening and closing ----------------------------------------------------------------------------

    @classmethod
    def open_for_run(cls, output: Path) -> Ledger:
        """Open (creating if needed) the ledger of ``output`` for writing, holding its lock.

        Raises `LedgerLocked` if another runner holds it, `LedgerCorrupt` for a file that is not our
        ledger, `LedgerTooNew` for a ledger from a newer version. Migrates an older ledger.
        """
        output = Path(output)
        state_dir = output / LEDGER_DIR
        created_dir = not check_owned_dir(state_dir)  # a link there would put the ledger somewhere else
        state_dir.mkdir(parents=True, exist_ok=True)
        lock = _FolderLock(output)
        try:
            path = ledger_path(output)
            is_new = not path.exists()
            if not is_new:
                _check_header(path)
            try:
                wconn = _connect(str(path))
                try:
                    version = _schema_version(wconn, path)
                    if version is not None and version > SCHEMA_VERSION:
                        raise LedgerTooNew(path, version)
                    _configure_for_writing(wconn, path)
                    _migrate(wconn, path, version)
                    _check_contents(wconn, path)
                    _check_manifest_known(output, path, wconn)
                    # Write once now, and roll it back: a read-only file, or another program's lock, is
                    # found before anything is sent rather than at the first transition. (Taking the lock
                    # alone is not enough: in WAL mode a read-only file grants it.)
                    wconn.execute("BEGIN IMMEDIATE")
                    try:
                        wconn.execute("UPDATE schema_version SET version = version")
                    finally:
                        _rollback(wconn)
                    rconn = _connect(str(path))
                except BaseException:
                    wconn.close()
                    raise
            except sqlite3.Error as exc:
                raise _unusable(path, exc) from exc
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
    def open_for_reading(cls, output: Path) -> Ledger:
        """Open the ledger of ``output`` for reading (``status``, ``plan``): no lock, nothing created.

        A folder without a ledger reads as an empty ledger. An older ledger is migrated first, which needs
        the lock for a moment (`LedgerLocked` if a runner of an older version holds it).
        """
        path = ledger_path(Path(output))
        if not path.exists():
            return cls.in_memory()
        _check_header(path)
        try:
            rconn, version = _reader(path)
            if version is None:
                rconn.close()
                return cls.in_memory()
            if version > SCHEMA_VERSION:
                rconn.close()
                raise LedgerTooNew(path, version)
            if version < SCHEMA_VERSION:
                rconn.close()
                try:
                    cls.open_for_run(output).close()
                except (LedgerCorrupt, PermissionError) as exc:
                    if isinstance(exc, LedgerCorrupt) and not _needs_write_access(exc):
                        raise
                    raise LedgerUnusable(f"{path} was written by an earlier photogpt-batch and must be upgraded "
                                         f"first, which needs write access to {path.parent}: run this once as a "
                                         "user who can write there") from exc
                rconn, _ = _reader(path)
            try:
                _check_contents(rconn, path)
            except BaseException:
                rconn.close()
                raise
        except sqlite3.Error as exc:
            raise _unusable(path, exc) from exc
        return cls(path, None, rconn, None)

    @classmethod
    def in_memory(cls) -> Ledger:
        """An empty, read-only ledger: what a folder that never ran reads as."""
        conn = _connect(":memory:")
        _migrate(conn, Path(":memory:"), None)
        return cls(Path(":memory:"), None, conn, None)

    @property
    def writable(self) -> bool:
        """Whether this handle may write (opened with `open_for_run`)."""
        return self._wconn is not None and not self._closed

    def close(self) -> None:
        """Close the database and release the lock. Use `aclose` if group commit was used."""
        if self._closed:
            return
        if self._writer is not None and not self._writer.done():
            raise RuntimeError("the ledger's writer is running: close it with 'await ledger.aclose()'")
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        with self._write_mutex:
            if self._wconn is not None:
                self._wconn.close()
        with self._read_mutex:
            self._rconn.close()
        if self._lock is not None:
            self._lock.release()

    async def aclose(self) -> None:
        """Commit everything queued, stop the writer, then `close`."""
        if self._writer is not None and not self._writer.done() and self._wanted is not None:
            self._closing = True
            self._wanted.set()
            await self._writer
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
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
        conn = self._writer_conn()
        with self._write_mutex:
            now = time.time()
            conn.execute("BEGIN IMMEDIATE")
            try:
                current = {
                    job_id: (row, digest)
                    for job_id, row, digest in conn.execute(
                        "SELECT job_id, id, content_hash FROM jobs WHERE current = 1"
                    )
                }
                rows: dict[str, int] = {}
                inserts: list[tuple[Any, ...]] = []
                events: list[_EventRow] = []
                for job in jobs:
                    known = current.get(job.id)
                    if known is not None and known[1] == job.content_hash:
                        rows[job.id] = known[0]
                        continue
                    if known is not None:
                        conn.execute("UPDATE jobs SET current = 0, updated_at = ? WHERE id = ?", (now, known[0]))
                        events.append((now, known[0], None, None, "replaced", job.content_hash))
                    earlier = conn.execute(
                        "SELECT id, state FROM jobs WHERE job_id = ? AND content_hash = ?", (job.id, job.content_hash)
                    ).fetchone()
                    if earlier is not None:
                        conn.execute("UPDATE jobs SET current = 1, updated_at = ? WHERE id = ?", (now, earlier[0]))
                        events.append((now, earlier[0], None, earlier[1], "current", "content restored"))
                        rows[job.id] = earlier[0]
                        continue
                    inserts.append(
                        (job.id, job.content_hash, job.model, canonical_json(job.body), JobState.PLANNED, now, now)
                    )
                conn.executemany(
                    "INSERT INTO jobs (job_id, content_hash, model, body, state, current, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                    inserts,
                )
                if inserts:
                    new_ids = {row[0] for row in inserts}
                    for job_id, row in conn.execute("SELECT job_id, id FROM jobs WHERE current = 1"):
                        if job_id in new_ids:
                            rows[job_id] = row
                            events.append((now, row, None, None, JobState.PLANNED, None))
                conn.executemany(_INSERT_EVENT, events)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        return rows

    def commit(self, *ops: Op) -> None:
        """Apply ``ops`` in one transaction, synchronously. Ops that are legal are committed even when
        another is not; then the first error is raised."""
        errors = [error for error in self._run_batch(list(ops)) if error is not None]
        if errors:
            raise errors[0]

    def recover_interrupted(self) -> list[int]:
        """Move jobs left in ``submitting`` by a crash to ``in_doubt``; return their rows.

        Called when a run starts: a ``submitting`` job from an earlier process may have been POSTed or not.
        """
        with self._read_mutex:
            rows = [row for (row,) in self._rconn.execute("SELECT id FROM jobs WHERE state = 'submitting'")]
        self.commit(
            *(
                JobTransition(
                    row,
                    JobState.IN_DOUBT,
                    error="the run stopped while submitting: the job may or may not have been created",
                )
                for row in rows
            )
        )
        return rows

    # ---- group-committed writes -------------------------------------------------------------------------

    async def apply(self, op: Op, *, durable: bool = True) -> None:
        """Queue ``op`` for the next group commit; return once it is durable (or raise its error).

        With ``durable=False`` return at once: the op commits with the next group commit (at most
        `LAZY_COMMIT_DELAY` seconds later, or at `flush` / `aclose`), and an error it meets is logged.
        """
        self._writer_conn()  # raises if closed or read-only, before anything is queued
        if self._lazy_failure is not None:
            raise self._lazy_failure
        if self._closing:
            raise LedgerError("the ledger is closing")
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer.done() or self._loop is not loop:
            if self._writer is not None and not self._writer.done():
                raise RuntimeError("the ledger's writer runs on another event loop")
            self._loop = loop
            self._wanted = asyncio.Event()
            self._writer = loop.create_task(self._write_loop(self._wanted), name="ledger-writer")
        assert self._wanted is not None
        done = loop.create_future()
        # Stamped now, not at commit: the audit trail says when things happened, even for a queued op.
        self._pending.append((op, done, time.time()))
        if durable:
            self._wanted.set()
            await done
            return
        done.add_done_callback(_log_lazy_failure)
        done.add_done_callback(self._remember_lazy_failure)
        if self._lazy_timer is None and not self._wanted.is_set():
            self._lazy_timer = loop.call_later(LAZY_COMMIT_DELAY, self._wanted.set)

    def _remember_lazy_failure(self, done: asyncio.Future[None]) -> None:
        if not done.cancelled() and isinstance(done.exception(), sqlite3.Error):
            self._lazy_failure = done.exception()  # type: ignore[assignment]

    async def _write_loop(self, wanted: asyncio.Event) -> None:
        while True:
            await wanted.wait()
            wanted.clear()
            if self._lazy_timer is not None:
                self._lazy_timer.cancel()
                self._lazy_timer = None
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._commit_batch(batch)
            if self._closing:
                return

    async def _commit_batch(self, batch: list[tuple[Op, asyncio.Future[None], float]]) -> None:
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
            results = self._apply_ops(conn, [(op, at) for op, _, at in batch])
        except BaseException as exc:
            self._write_mutex.release()
            _fail_all(batch, exc)
            if not isinstance(exc, Exception):
                raise
            return
        try:
            # Shielded: were this task cancelled (a second Ctrl-C, the loop shutting down) before the writer
            # thread picked the COMMIT up, the thread would never run it, and the write lock taken above would
            # never be released. Now the COMMIT always runs, and releases it.
            await asyncio.shield(loop.run_in_executor(self._executor, self._commit_and_release, conn))
        except Exception as exc:
            _fail_all(batch, exc)
            return
        for (_, done, _), error in zip(batch, results, strict=True):
            if done.done():
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

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
            _rollback(conn)
            raise
        self.commits += 1

    def _apply_ops(self, conn: sqlite3.Connection, ops: Sequence[tuple[Op, float]]) -> list[Exception | None]:
        """BEGIN and apply each (op, time), leaving the transaction open; an op that fails is rolled back alone
        and its error returned in its place. Rolls back everything and raises on anything else.
        The caller holds ``_write_mutex``."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            try:
                # Ops are almost always legal: apply the batch straight, with no savepoint per op (two
                # statements saved per transition, a third of the ledger's SQL in a run).
                events = [event for op, at in ops for event in op.apply(conn, at)]
                results: list[Exception | None] = [None] * len(ops)
            except (LedgerError, sqlite3.IntegrityError):
                # One is not: start the batch over with each op in a savepoint of its own, so only it is dropped.
                # Ops change nothing but the database, so applying them again is safe.
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                results, events = _apply_each(conn, ops)
            conn.executemany(_INSERT_EVENT, events)
        except BaseException:
            _rollback(conn)
            raise
        return results

    def _run_batch(self, ops: Sequence[Op]) -> list[Exception | None]:
        """Apply ``ops`` in one transaction and commit it, synchronously, in the calling thread."""
        conn = self._writer_conn()
        with self._write_mutex:
            now = time.time()
            results = self._apply_ops(conn, [(op, now) for op in ops])
            self._commit(conn)
        return results

    def _writer_conn(self) -> sqlite3.Connection:
        if self._closed:
            raise LedgerError("the ledger is closed")
        if self._wconn is None:
            raise ReadOnlyLedger("this ledger was opened for reading; open it with Ledger.open_for_run to write")
        return self._wconn

    async def flush(self) -> None:
        """Return once every transition queued before this call is durable."""
        await self.apply(_Barrier())

    async def mark_submitting(self, row: int) -> None:
        """planned → submitting: the intent to POST, durable before the POST is sent."""
        await self.apply(JobTransition(row, JobState.SUBMITTING))

    async def mark_submitted(self, row: int, remote_id: str) -> None:
        """submitting (or in_doubt) → submitted with the server's jobId."""
        await self.apply(JobTransition(row, JobState.SUBMITTED, remote_id=remote_id))

    async def mark_in_doubt(self, row: int, error: str, err: str | None = None) -> None:
        """submitting → in_doubt: the POST was sent and its outcome is unknown."""
        await self.apply(JobTransition(row, JobState.IN_DOUBT, error=error, err=err))

    async def mark_unsent(self, row: int, error: str | None = None) -> None:
        """submitting → planned: the POST provably never left (or never reached) this machine."""
        await self.apply(JobTransition(row, JobState.PLANNED, error=error))

    async def mark_planned(self, row: int) -> None:
        """failed / in_doubt → planned: the user asked to try again (--retry-failed, --resubmit-in-doubt)."""
        await self.apply(JobTransition(row, JobState.PLANNED))

    async def mark_failed(self, row: int, error: str, err: str | None = None, credits: float | None = None) -> None:
        """submitting / submitted / in_doubt → failed, with the message to show and the server's detail."""
        await self.apply(JobTransition(row, JobState.FAILED, error=error, err=err, credits=credits))

    async def mark_succeeded(self, row: int, video_ids: Sequence[str], credits: float | None = None, *,
                             durable: bool = True) -> None:
        """submitted → succeeded; records the server's videos (numbered from 1) as pending."""
        await self.apply(JobTransition(row, JobState.SUCCEEDED, video_ids=tuple(video_ids), credits=credits),
                         durable=durable)

    async def set_credits(self, row: int, credits: float) -> None:
        """Record a job's cost."""
        await self.apply(SetCredits(row, credits))

    async def mark_video_preparing(self, row: int, n: int, *, durable: bool = True) -> None:
        """pending / ready → preparing: ``create-download`` was asked (again, for an expired URL)."""
        await self.apply(VideoTransition(row, n, VideoState.PREPARING), durable=durable)

    async def mark_video_ready(self, row: int, n: int, url: str, *, durable: bool = True) -> None:
        """preparing → ready with the signed file URL."""
        await self.apply(VideoTransition(row, n, VideoState.READY, url=url), durable=durable)

    async def mark_video_downloaded(self, row: int, n: int, path: str | PurePath, size: int, sha256: str) -> None:
        """ready → downloaded: the file is complete, fsynced and renamed to ``path`` (relative to the output)."""
        await self.apply(
            VideoTransition(
                row, n, VideoState.DOWNLOADED, path=str(PurePath(path).as_posix()), bytes=size, sha256=sha256
            )
        )

    async def mark_video_failed(self, row: int, n: int, error: str) -> None:
        """pending / preparing / ready → failed."""
        await self.apply(VideoTransition(row, n, VideoState.FAILED, error=error))

    async def mark_video_pending(self, row: int, n: int) -> None:
        """failed / downloaded → pending: retry a failed video, or fetch again a file that went missing."""
        await self.apply(VideoTransition(row, n, VideoState.PENDING))

    # ---- reads ------------------------------------------------------------------------------------------

    def _select_jobs(self, where: str, params: Sequence[Any] = ()) -> list[JobRecord]:
        """Jobs matching ``where`` (on table ``jobs``) with their videos: two queries in one snapshot."""
        with self._read_mutex:
            conn = self._rconn
            conn.execute("BEGIN")
            try:
                job_rows = conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {where} ORDER BY jobs.id",
                                        params).fetchall()
                video_rows = conn.execute(
                    f"SELECT {_VIDEO_COLUMNS} FROM videos v JOIN jobs ON jobs.id = v.job WHERE {where}"
                    " ORDER BY v.job, v.n",
                    params,
                ).fetchall()
            finally:
                conn.execute("COMMIT")
        videos: defaultdict[int, list[VideoRecord]] = defaultdict(list)
        # Column order matches the records' field order (see _JOB_COLUMNS and _VIDEO_COLUMNS).
        for r in video_rows:
            videos[r[0]].append(VideoRecord(r[0], r[1], r[2], _VIDEO_STATES[r[3]], *r[4:]))
        return [
            # mypy cannot count the fields a row's slices fill, so it thinks 'videos' may be given twice
            JobRecord(*r[:4], _JOB_STATES[r[4]], bool(r[5]), *r[6:], videos=tuple(videos.get(r[0], ())))  # type: ignore[call-arg, misc]
            for r in job_rows
        ]

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

    def replaced(self) -> list[JobRecord]:
        """Every version that is no longer current (the spec's content changed since), oldest first."""
        return self._select_jobs("jobs.current = 0")

    def body(self, row: int) -> dict[str, Any]:
        """The request body recorded for job version ``row``."""
        with self._read_mutex:
            found = self._rconn.execute("SELECT body FROM jobs WHERE id = ?", (row,)).fetchone()
        if found is None:
            raise UnknownRecord(f"no job row {row} in the ledger")
        return json.loads(found[0])

    def videos(self, row: int) -> list[VideoRecord]:
        """The videos of job version ``row``, by number."""
        return list(self.record(row).videos)

    def manifest_entries(self) -> list[dict[str, Any]]:
        """One manifest object per downloaded video of every job version, in ledger order: ``job``,
        ``model``, ``jobId``, ``videoId``, ``path`` (relative to the output folder), ``bytes``, ``sha256``,
        ``version`` (1 for a job's first content, counting each change) and ``current`` (false for the files
        of a version the spec has since changed)."""
        with self._read_mutex:
            # The version counts the job's rows up to this one, through the (job_id, content_hash) index: as fast
            # as no version at all (0.44 s for 100,000 videos), where a window over every job costs 50% more.
            rows = self._rconn.execute(
                "SELECT jobs.job_id, jobs.model, jobs.remote_id, v.video_id, v.path, v.bytes, v.sha256,"
                " (SELECT count(*) FROM jobs AS e WHERE e.job_id = jobs.job_id AND e.id <= jobs.id), jobs.current"
                " FROM videos v JOIN jobs ON jobs.id = v.job WHERE v.state = 'downloaded' ORDER BY jobs.id, v.n"
            ).fetchall()
        keys = ("job", "model", "jobId", "videoId", "path", "bytes", "sha256", "version", "current")
        return [{**dict(zip(keys, row, strict=True)), "current": bool(row[-1])} for row in rows]

    def anything_sent(self) -> bool:
        """Whether a submission was ever attempted from this folder (one may have created a job)."""
        with self._read_mutex:
            return self._rconn.execute(
                "SELECT 1 FROM jobs WHERE attempts > 0 OR remote_id IS NOT NULL LIMIT 1").fetchone() is not None

    def meta(self, key: str) -> str | None:
        """A fact recorded about the folder (`set_meta`), or ``None``."""
        with self._read_mutex:
            found = self._rconn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return found[0] if found else None

    def set_meta(self, key: str, value: str) -> None:
        """Record a fact about the folder (durably, at once): for start-up, before any transition."""
        self.commit(SetMeta(key, value))

    def remote_ids(self) -> set[str]:
        """Every server job id the ledger knows, current versions or not (to reconcile in-doubt jobs)."""
        with self._read_mutex:
            return {rid for (rid,) in self._rconn.execute("SELECT remote_id FROM jobs WHERE remote_id IS NOT NULL")}

    def events(self, row: int) -> list[Event]:
        """The audit trail of job version ``row`` (its videos' transitions included), oldest first."""
        with self._read_mutex:
            rows = self._rconn.execute(
                "SELECT at, job, n, from_state, to_state, detail FROM events WHERE job = ? ORDER BY id", (row,)
            ).fetchall()
        return [Event(*r) for r in rows]

    def counts(self) -> dict[str, dict[str, int]]:
        """Current job versions per state and their videos per state: ``{"jobs": {...}, "videos": {...}}``."""
        with self._read_mutex:
            jobs = dict(self._rconn.execute("SELECT state, count(*) FROM jobs WHERE current = 1 GROUP BY state"))
            videos = dict(
                self._rconn.execute(
                    "SELECT v.state, count(*) FROM videos v JOIN jobs ON jobs.id = v.job"
                    " WHERE jobs.current = 1 GROUP BY v.state"
                )
            )
        return {"jobs": jobs, "videos": videos}

    def reconcile(self, planned: Sequence[PlannedJob]) -> Reconciliation:
        """Compare the spec's jobs with the ledger (see `Disposition`); reads only."""
        records = {record.job_id: record for record in self.jobs()}
        items = []
        for job in planned:
            record = records.pop(job.id, None)
            items.append(Reconciled(job.id, disposition(job, record), job, record))
        orphaned = [Reconciled(r.job_id, Disposition.ORPHANED, None, r) for r in records.values()]
        return Reconciliation(items, orphaned)


__all__ = [
    "JOB_TRANSITIONS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "VIDEO_TRANSITIONS",
    "Disposition",
    "Event",
    "IllegalTransition",
    "JobRecord",
    "JobState",
    "JobTransition",
    "Ledger",
    "LedgerCorrupt",
    "LedgerError",
    "LedgerLocked",
    "LedgerTooNew",
    "MoveVideo",
    "Op",
    "ReadOnlyLedger",
    "Reconciled",
    "Reconciliation",
    "SetCredits",
    "SetMeta",
    "UnknownRecord",
    "VideoRecord",
    "VideoState",
    "VideoTransition",
    "disposition",
    "ledger_path",
]
