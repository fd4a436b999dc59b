"""Group commit: concurrent callers' transitions are queued and committed together, each caller resuming once
its transition is durable. So 64 concurrent transitions cost about one commit (one fsync, one round trip to
the server), not 64.

`GroupCommit` holds the queue and the writer task on the event loop; a store supplies `_commit_batch` (how one
batch becomes one durable transaction) and `_writer_conn` (raises when this handle may not write). The typed
``mark_...`` methods the engine calls are here too, so both stores offer exactly the same ones.

``durable=False`` (for bookkeeping no later action depends on, such as "a download is being prepared") queues
the transition without waiting: it rides with the next commit, at most `LAZY_COMMIT_DELAY` seconds later.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from .errors import LedgerError
from .ops import Barrier, JobTransition, Op, SetCredits, VideoTransition
from .states import JobState, VideoState

log = logging.getLogger("photogpt_batch.ledger")

#: Most transitions committed in one transaction: bounds the latency a big burst adds to its last caller.
MAX_BATCH = 1024
#: The longest a transition queued with ``durable=False`` waits for a commit to ride with.
LAZY_COMMIT_DELAY = 0.5

#: One queued transition: the op, its caller's future, and when it was queued (the audit trail's time).
Pending = tuple[Op, "asyncio.Future[None]", float]


class GroupCommit:
    """The queue of transitions waiting for a commit, and the task that commits them in batches."""

    def _init_writer(self) -> None:
        # All touched on the event loop's thread only.
        self._pending: list[Pending] = []
        self._wanted: asyncio.Event | None = None  # set when the pending ops should be committed now
        self._lazy_timer: asyncio.TimerHandle | None = None
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        # A `durable=False` op whose commit failed (a full disk, a lost server or lock): every later write
        # raises it, so a transition that depends on the lost one is never tried on a state it did not reach.
        # `sqlite3.Error` covers both stores: the shared one's `LedgerUnavailable` is one too.
        self._lazy_failure: sqlite3.Error | None = None
        #: Transactions committed so far: for tests and benchmarks.
        self.commits = 0

    def _writer_conn(self) -> Any:  # pragma: no cover - abstract
        """The connection writes go through; raises if this handle is closed or read-only."""
        raise NotImplementedError

    async def _commit_batch(self, batch: list[Pending]) -> None:  # pragma: no cover - abstract
        """Apply ``batch`` in one transaction and make it durable; resolve each caller's future."""
        raise NotImplementedError

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
        if not done.cancelled():
            exc = done.exception()
            if isinstance(exc, sqlite3.Error):
                self._lazy_failure = exc

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

    async def _stop_writer(self) -> None:
        """Commit everything queued and stop the writer task."""
        if self._writer is not None and not self._writer.done() and self._wanted is not None:
            self._closing = True
            self._wanted.set()
            await self._writer

    def _writer_running(self) -> bool:
        return self._writer is not None and not self._writer.done()

    async def flush(self) -> None:
        """Return once every transition queued before this call is durable."""
        await self.apply(Barrier())

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


def fail_all(batch: Sequence[Pending], exc: BaseException) -> None:
    """Resolve every caller's future in ``batch`` with ``exc`` (the batch did not commit)."""
    for _, done, _ in batch:
        if not done.done():
            done.set_exception(exc)


def resolve(batch: Sequence[Pending], results: Sequence[Exception | None]) -> None:
    """Resolve each caller's future with its op's outcome (the batch committed)."""
    for (_, done, _), error in zip(batch, results, strict=True):
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


def _log_lazy_failure(done: asyncio.Future[None]) -> None:
    """Nobody awaits a ``durable=False`` transition: say what went wrong (and mark the error as seen)."""
    if not done.cancelled() and done.exception() is not None:
        log.warning("a ledger transition queued without waiting failed: %s", done.exception())
