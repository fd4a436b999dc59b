"""A concurrency gate for jobs generating on the server, whose limit can shrink on 429 and grow back."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator


class Gate:
    """At most ``limit`` jobs generating at once, admitted first come, first served.

    New submissions wait for room (`slot`); jobs already generating when a run resumes are counted
    without waiting (`enter`/`leave`), since they are on the server whether we like it or not. The vendor
    asks for few active jobs: a persistent 429 halves the limit (`back_off`), and each job that finishes
    cleanly lets it grow by one again, up to the configured limit. A freed slot is handed to exactly one
    waiter, so a thousand queued jobs cost one wake-up per finished job, not a thousand.
    """

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("concurrency must be at least 1")
        self.max_limit = limit
        self.limit = limit
        self.active = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def _wait_for_room(self) -> None:
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just as we were cancelled: pass it on.
                self.active -= 1
                self._admit()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def _admit(self) -> None:
        while self._waiters and self.active < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.active += 1
                waiter.set_result(None)

    async def acquire(self) -> None:
        """Wait for room and take one generating slot; free it with `leave`. (The run's feeder is the one
        waiter: the jobs it has not started yet hold no task.)"""
        await self._wait_for_room()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one generating slot for the duration of the block (waits for room)."""
        await self._wait_for_room()
        try:
            yield
        finally:
            await self.leave()

    def enter(self) -> None:
        """Count a job that is already generating (no waiting)."""
        self.active += 1

    async def leave(self) -> None:
        """A generating job finished: free its slot."""
        self.active -= 1
        self._admit()

    def back_off(self) -> None:
        """Too many active jobs for the server: halve the limit (at least 1)."""
        self.limit = max(1, self.limit // 2)

    async def recover(self) -> None:
        """A job finished without trouble: let the limit grow by one, up to the configured maximum."""
        if self.limit < self.max_limit:
            self.limit += 1
            self._admit()
