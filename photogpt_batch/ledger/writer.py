"""Group commit: concurrent callers' transitions are queued and committed together, each caller resuming once
its transition is durable. So 64 concurrent transitions cost about one commit (one fsync, one round trip to
the server), not 64.

`GroupCommit` holds the queue and the writer task on the event loop, and `GroupCommit.write`, the one way
ops reach a ledger from a run (`Ledger`'s ``mark_...`` methods are its shorthands); a store supplies
`_commit_batch` (how one batch becomes one durable transaction) and `_writer_conn` (raises when this handle may
not write).

``durable=False`` (for bookkeeping no later action depends on, such as "a download is being prepared") queues
the transition without waiting: it rides with the next commit, at most `LAZY_COMMIT_DELAY` seconds later.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from .errors import LedgerError, LedgerWriteFailed
from .ops import Barrier, Op

log = logging.getLogger("photogpt_batch.ledger")

#: Most transitions committed in one transaction: bounds the latency a big burst adds to its last caller.
MAX_BATCH = 1024
#: The longest a transition queued with ``durable=False`` waits for a commit to ride with.
LAZY_COMMIT_DELAY = 0.5

#: One queued transition: the op, its caller's future, and when it was queued (the audit trail's time).
Pending = tuple[Op, "asyncio.Future[None]", float]


class GroupCommit(abc.ABC):
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
        # Both stores raise `LedgerWriteFailed` (or its `LedgerUnavailable`) when a batch cannot be committed.
        self._lazy_failure: LedgerWriteFailed | None = None
        #: Transactions committed so far: for tests and benchmarks.
        self.commits = 0

    @abc.abstractmethod
    def _writer_conn(self) -> Any:
        """The connection writes go through; raises if this handle is closed or read-only."""

    @abc.abstractmethod
    async def _commit_batch(self, batch: list[Pending]) -> None:
        """Apply ``batch`` in one transaction and make it durable; resolve each caller's future. A failure of
        the store resolves them with `LedgerWriteFailed` (never the driver's error)."""

    async def write(self, *ops: Op, durable: bool = True) -> None:
        """Queue ``ops`` for the next group commit, together; return once they are durable. Ops that are legal
        are committed even when another is not (an `IllegalTransition`, say); then the first error is raised.

        With ``durable=False`` return at once: the ops commit with the next group commit (at most
        `LAZY_COMMIT_DELAY` seconds later, or at `flush` / `aclose`), and an error one meets is logged; every
        later write then raises it.
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
        # Stamped now, not at commit: the audit trail says when things happened, even for a queued op.
        at = time.time()
        futures = [loop.create_future() for _ in ops]
        self._pending.extend((op, done, at) for op, done in zip(ops, futures, strict=True))
        if durable:
            self._wanted.set()
            if len(futures) == 1:
                await futures[0]
                return
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
            return
        for done in futures:
            done.add_done_callback(_log_lazy_failure)
            done.add_done_callback(self._remember_lazy_failure)
        if self._lazy_timer is None and not self._wanted.is_set():
            self._lazy_timer = loop.call_later(LAZY_COMMIT_DELAY, self._wanted.set)

    def _remember_lazy_failure(self, done: asyncio.Future[None]) -> None:
        if not done.cancelled():
            exc = done.exception()
            if isinstance(exc, LedgerWriteFailed):
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
        await self.write(Barrier())


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
