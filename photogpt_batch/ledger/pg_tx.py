"""`PgTx`: a write transaction of the shared PostgreSQL ledger, as the ops and the shared SQL see it (a `Tx`).

Every statement of a write transaction of `PostgresLedger` goes through one: it notes those that write, so that
the transaction moves the campaign's revision on before its COMMIT (`bump_revision`, see `revision`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any

from . import pg_lock
from .errors import UnknownRecord
from .ops import select_job_row, select_video_state
from .pg_connect import pg_sql
from .revision import PG_BUMP, writes
from .states import JOB_STATES, VIDEO_STATES, JobState, VideoState


class PgTx:
    """A psycopg connection in a transaction, as a `Tx`.

    In a group commit (`fast`), a statement is a round trip and the writer thread waits for each (and then
    for the GIL): so the batch's job and video states are read in two queries up front (`prefetch`), ops
    check them there (`job_row`, `video_state`, kept current by `moved`), and their writes are queued and sent
    with the COMMIT (`send_queued`). BEGIN, the fencing check and those reads go in one pipeline, the writes and
    COMMIT in a second: a batch is two round trips, however many transitions it holds (it was ~2 per transition).

    ``wrote`` is set by the first statement that writes (`revision.writes`); the store calls `bump_revision` last
    before its COMMIT.
    """

    __slots__ = ("_reads", "campaign", "conn", "fence", "jobs", "queue", "videos", "wrote")

    def __init__(self, conn: Any, campaign: str, fence: Callable[[], None]) -> None:
        self.conn = conn
        self.campaign = campaign
        self.fence = fence
        self.queue: list[tuple[str, Sequence[Any]]] | None = None  # writes deferred to `flush`
        self.jobs: dict[int, tuple[JobState, str]] = {}
        self.videos: dict[tuple[int, int], VideoState] = {}
        self._reads: tuple[Any, Any] = (None, None)
        self.wrote = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """One statement (queued, in the fast path: only writes go through here then)."""
        if not self.wrote and writes(sql):
            self.wrote = True
        if self.queue is not None:
            self.queue.append((sql, params))
            return None
        return self.conn.execute(pg_sql(sql), params)

    def executemany(self, sql: str, params: Any) -> Any:
        """One statement per parameter tuple (pipelined by psycopg)."""
        if self.queue is not None:
            rows = [tuple(p) for p in params]
            self.wrote = self.wrote or (bool(rows) and writes(sql))
            head, marks = sql.rsplit(" VALUES ", 1) if " VALUES (" in sql else (sql, "")
            if marks and len(rows) > 1 and len(rows) * len(rows[0]) < 30000:
                # One multi-row INSERT instead of a statement per row: the writes are sent in a pipeline anyway,
                # but each statement costs the writer thread (and so the event loop, through the GIL) CPU.
                self.queue.append((f"{head} VALUES {', '.join([marks] * len(rows))}",
                                   [value for row in rows for value in row]))
            else:
                self.queue.extend((sql, row) for row in rows)
            return None
        params = list(params)
        self.wrote = self.wrote or (bool(params) and writes(sql))
        cursor = self.conn.cursor()
        cursor.executemany(pg_sql(sql), params)
        return cursor

    def bump_revision(self) -> None:
        """Move the campaign's revision on (`revision`) if this transaction wrote anything: the last statement
        before its COMMIT (queued with the writes, in the fast path). The epoch is used only by a campaign's
        first write, which makes its row."""
        if self.wrote:
            self.execute(PG_BUMP, (self.campaign, secrets.token_hex(8)))

    def set_meta(self, key: str, value: str) -> None:
        """Upsert this campaign's ``meta`` row."""
        self.execute("INSERT INTO meta (campaign, key, value) VALUES (?, ?, ?) ON CONFLICT (campaign, key)"
                     " DO UPDATE SET value = excluded.value", (self.campaign, key, value))

    def job_row(self, row: int) -> tuple[JobState, str]:
        """From the prefetched states in the fast path, else from the database."""
        if self.queue is None:
            return select_job_row(self, row)
        found = self.jobs.get(row)
        if found is None:
            raise UnknownRecord(f"no job row {row} in the ledger")
        return found

    def video_state(self, row: int, n: int) -> VideoState:
        """From the prefetched states in the fast path, else from the database."""
        if self.queue is None:
            return select_video_state(self, row, n)
        found = self.videos.get((row, n))
        if found is None:
            raise UnknownRecord(f"no video {n} of job row {row} in the ledger")
        return found

    def moved(self, row: int, n: int | None, to: str, created: int = 0) -> None:
        """Keep the prefetched states current for the batch's later ops."""
        if self.queue is None:
            return
        if n is None:
            self.jobs[row] = (JOB_STATES[to], self.jobs[row][1])
            for k in range(1, created + 1):
                self.videos[(row, k)] = VideoState.PENDING
        else:
            self.videos[(row, n)] = VIDEO_STATES[to]

    def prefetch(self, rows: list[int], generation: int) -> Any:
        """Queue (in a pipeline) BEGIN, the fencing check and the reads of every named job's and video's state;
        returns the fencing cursor. `prefetched` takes the results once the pipeline has synced."""
        self.conn.execute("BEGIN")
        fenced = self.conn.execute(pg_lock.FENCE, (self.campaign, generation))
        self._reads = (self.conn.execute("SELECT id, state, job_id FROM jobs WHERE campaign = %s AND id = ANY(%s)",
                                         (self.campaign, rows)),
                       self.conn.execute("SELECT job, n, state FROM videos WHERE job = ANY(%s)", (rows,)))
        return fenced

    def prefetched(self) -> None:
        """Keep the prefetched states; from now on writes are queued."""
        jobs, videos = self._reads
        self.jobs = {r: (JOB_STATES[state], job_id) for r, state, job_id in jobs.fetchall()}
        self.videos = {(r, n): VIDEO_STATES[state] for r, n, state in videos.fetchall()}
        self.queue = []

    def send_queued(self) -> None:
        """Send the queued writes (inside the caller's pipeline)."""
        queue, self.queue = self.queue or [], None
        for sql, params in queue:
            self.conn.execute(pg_sql(sql), params)

    def restart(self) -> None:
        """Roll back and begin again (checking the lock again)."""
        self.conn.execute("ROLLBACK")
        self.conn.execute("BEGIN")
        self.fence()
