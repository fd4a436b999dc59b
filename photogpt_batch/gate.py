"""A concurrency gate for jobs generating on the server, whose limit can shrink on 429 and grow back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Gate:
    """At most ``limit`` jobs generating at once.

    New submissions wait for room (`slot`); jobs already generating when a run resumes are counted
    without waiting (`enter`/`leave`), since they are on the server whether we like it or not. The vendor
    asks for few active jobs: a 429 halves the limit (`back_off`), and each finished job without one
    lets it grow by one again, up to the configured limit.
    """

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("concurrency must be at least 1")
        self.max_limit = limit
        self.limit = limit
        self.active = 0
        self._changed = asyncio.Condition()

    async def _wait_for_room(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.active < self.limit)
            self.active += 1

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
        async with self._changed:
            self.active -= 1
            self._changed.notify_all()

    def back_off(self) -> None:
        """Too many active jobs for the server: halve the limit (at least 1)."""
        self.limit = max(1, self.limit // 2)

    async def recover(self) -> None:
        """A job finished without trouble: let the limit grow by one, up to the configured maximum."""
        if self.limit < self.max_limit:
            async with self._changed:
                self.limit += 1
                self._changed.notify_all()
