"""Writes to the ledger as values: each `Op` validates against the state machine, then changes rows.

An op is applied inside a transaction through a `Tx`: the SQLite connection itself, or the PostgreSQL store's
adapter. The SQL is written once, with ``?`` placeholders and table names both stores share; the only write
that differs between them (the ``meta`` upsert, keyed by campaign in a shared database) goes through
`Tx.set_meta`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, ClassVar, Protocol

from .errors import IllegalTransition, LedgerError, UnknownRecord
from .records import pending_videos
from .states import JOB_TRANSITIONS, VIDEO_TRANSITIONS, JobState, VideoState

#: An audit event as an op returns it: (at, job row, video n, from_state, to_state, detail).
EventRow = tuple[float, int, int | None, str | None, str, str | None]
#: Its insert, which adds the recording run's server clock offset (`with_offset`).
INSERT_EVENT = ("INSERT INTO events (at, job, n, from_state, to_state, detail, clock_offset)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)")


def with_offset(events: Sequence[EventRow], clock_offset: float | None) -> list[tuple[Any, ...]]:
    """``events`` as `INSERT_EVENT`'s parameters: each with ``clock_offset``, the server clock minus the
    recording machine's, as its run measured it (None: unknown). ``at`` is on the recording machine's clock;
    with the offset, any later run can put it on the server's, which is what settling in-doubt submissions
    compares with the server's ``createdAt``."""
    return [(*event, clock_offset) for event in events]


class Tx(Protocol):
    """An open transaction of a store: what ops and the shared reads run their SQL through."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any:
        """Run one statement (``?`` placeholders); returns a cursor."""

    def executemany(self, sql: str, params: Any) -> Any:
        """Run one statement for each parameter tuple."""

    def set_meta(self, key: str, value: str) -> None:
        """Upsert a ``meta`` fact (of this campaign, in a shared store)."""

    def job_row(self, row: int) -> tuple[JobState, str]:
        """Job row ``row``'s state and spec id (`select_job_row`); raises `UnknownRecord`."""

    def video_state(self, row: int, n: int) -> VideoState:
        """Video ``n`` of job row ``row``'s state (`select_video_state`); raises `UnknownRecord`."""

    def moved(self, row: int, n: int | None, to: str, created: int = 0) -> None:
        """An op moved a job (``n`` None; ``created`` videos made pending with it) or a video to ``to``: for a
        store that keeps the batch's states at hand (PostgreSQL) rather than asking the database each time."""


class Op:
    """A write to the ledger; applied inside a transaction, it validates before it changes anything."""

    def apply(self, conn: Tx, now: float) -> list[EventRow]:  # pragma: no cover - abstract
        """Apply to ``conn`` (inside a transaction); return the audit events to record."""
        raise NotImplementedError


def select_job_row(conn: Any, row: int) -> tuple[JobState, str]:
    """Job row ``row``'s state and spec id, asked of the database (``conn``: anything with ``execute``)."""
    found = conn.execute("SELECT state, job_id FROM jobs WHERE id = ?", (row,)).fetchone()
    if found is None:
        raise UnknownRecord(f"no job row {row} in the ledger")
    return JobState(found[0]), found[1]


def select_video_state(conn: Any, row: int, n: int) -> VideoState:
    """Video ``n`` of job row ``row``'s state, asked of the database."""
    found = conn.execute("SELECT state FROM videos WHERE job = ? AND n = ?", (row, n)).fetchone()
    if found is None:
        raise UnknownRecord(f"no video {n} of job row {row} in the ledger")
    return VideoState(found[0])


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

    def apply(self, conn: Tx, now: float) -> list[EventRow]:
        """Validate against `JOB_TRANSITIONS`, update the row, create videos on success."""
        current, job_id = conn.job_row(self.row)
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
        conn.moved(self.row, None, self.to, len(self.video_ids))
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

    def apply(self, conn: Tx, now: float) -> list[EventRow]:
        """Validate against `VIDEO_TRANSITIONS` and update the video row."""
        current = conn.video_state(self.row, self.n)
        if self.to not in VIDEO_TRANSITIONS[current]:
            _, job_id = conn.job_row(self.row)
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
        conn.moved(self.row, self.n, self.to)
        detail = self.path if self.to is VideoState.DOWNLOADED else self.error
        return [(now, self.row, self.n, current, self.to, detail)]


@dataclass(frozen=True)
class SetCredits(Op):
    """Record what a job cost (``GET /jobs`` reports it), whatever its state."""

    row: int
    credits: float

    def apply(self, conn: Tx, now: float) -> list[EventRow]:
        """Update the credits column."""
        conn.job_row(self.row)  # raises UnknownRecord
        conn.execute("UPDATE jobs SET credits = ?, updated_at = ? WHERE id = ?", (self.credits, now, self.row))
        return []


@dataclass(frozen=True)
class SetMeta(Op):
    """Record a fact about the folder as a whole (which campaign, which API), replacing an earlier one."""

    key: str
    value: str

    def apply(self, conn: Tx, now: float) -> list[EventRow]:
        """Upsert the ``meta`` row."""
        conn.set_meta(self.key, self.value)
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

    def apply(self, conn: Tx, now: float) -> list[EventRow]:
        """Update the path of a downloaded video; event ``moved`` with the new path."""
        state = conn.video_state(self.row, self.n)
        if state != VideoState.DOWNLOADED:
            raise IllegalTransition(f"video {self.n} of job row {self.row} is {state}, not downloaded: "
                                    "it has no file to move")
        conn.execute("UPDATE videos SET path = ?, updated_at = ? WHERE job = ? AND n = ?",
                     (self.path, now, self.row, self.n))
        return [(now, self.row, self.n, VideoState.DOWNLOADED, "moved", self.path)]


class Barrier(Op):
    """Changes nothing: `Ledger.flush` queues one and waits for its (group) commit."""

    def apply(self, conn: Tx, now: float) -> list[EventRow]:
        """Nothing to do."""
        return []


def apply_each(conn: Tx, ops: Sequence[tuple[Op, float]], integrity: type[Exception]
               ) -> tuple[list[Exception | None], list[EventRow]]:
    """Apply each (op, time) in a savepoint of its own: one that fails is rolled back alone and its error
    returned in its place."""
    results: list[Exception | None] = []
    events: list[EventRow] = []
    for op, at in ops:
        conn.execute("SAVEPOINT op")
        try:
            events.extend(op.apply(conn, at))
        except (LedgerError, integrity) as exc:
            conn.execute("ROLLBACK TO op")
            results.append(exc if isinstance(exc, LedgerError) else LedgerError(f"{op}: {exc}"))
        else:
            results.append(None)
        conn.execute("RELEASE op")
    return results, events




def apply_ops(tx: Tx, ops: Sequence[tuple[Op, float]], integrity: type[Exception],
              restart: Any, clock_offset: float | None = None) -> list[Exception | None]:
    """Apply each (op, time) in the open transaction of ``tx`` and insert their events (with ``clock_offset``:
    `with_offset`), leaving the transaction open; an op that fails is rolled back alone and its error returned
    in its place. ``restart()`` rolls the transaction back and begins it again (each store knows how;
    PostgreSQL re-checks its lock)."""
    try:
        # Ops are almost always legal: apply the batch straight, with no savepoint per op (two statements saved
        # per transition, a third of the ledger's SQL in a run).
        events = [event for op, at in ops for event in op.apply(tx, at)]
        results: list[Exception | None] = [None] * len(ops)
    except (LedgerError, integrity):
        # One is not: start the batch over with each op in a savepoint of its own, so only it is dropped. Ops
        # change nothing but the database, so applying them again is safe.
        restart()
        results, events = apply_each(tx, ops, integrity)
    tx.executemany(INSERT_EVENT, with_offset(events, clock_offset))
    return results
