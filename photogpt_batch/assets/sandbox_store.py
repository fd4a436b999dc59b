"""`SandboxStore`: the in-process sandbox's own object store, which ``run --sandbox`` stages local files on when
no store is configured. The chain stays the real one: the file is uploaded, a signed, expiring URL is made at
submission, and the sandbox's API fetches it over HTTP when the job starts."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from .store import StoreError

_TIMEOUT = aiohttp.ClientTimeout(total=60)


class SandboxStore:
    """Objects ``/store/<name>`` on the sandbox's file origin; ``sign(path, expires)`` is the sandbox's signer."""

    def __init__(self, files_url: str, sign: Callable[[str, int | None], str]):
        self.files_url = files_url.rstrip("/")
        self._sign = sign
        self.location = "the sandbox's own store"

    def key(self, name: str) -> str:
        """The object's path on the file origin."""
        return f"/store/{name}"

    async def _request(self, method: str, key: str, data: bytes | None = None, mime: str | None = None) -> int:
        headers = {"Content-Type": mime} if mime else {}
        try:
            async with aiohttp.ClientSession(timeout=_TIMEOUT) as session, \
                    session.request(method, self.files_url + key, data=data, headers=headers) as response:
                return response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StoreError(f"{self.location}: {method} {key}: {exc}") from exc

    async def exists(self, key: str) -> bool:
        """HEAD the object."""
        return await self._request("HEAD", key) == 200

    async def put(self, key: str, path: Path, mime: str) -> None:
        """Upload a file (read whole: the sandbox's files are small)."""
        await self.put_bytes(key, path.read_bytes(), mime)

    async def put_bytes(self, key: str, data: bytes, mime: str) -> None:
        """Upload bytes."""
        status = await self._request("PUT", key, data, mime)
        if status != 200:
            raise StoreError(f"{self.location}: PUT {key}: HTTP {status}")

    async def read(self, key: str) -> bytes:
        """Read back through a signed URL."""
        try:
            async with aiohttp.ClientSession(timeout=_TIMEOUT) as session, \
                    session.get(await self.presign(key)) as response:
                if response.status != 200:
                    raise StoreError(f"{self.location}: GET {key}: HTTP {response.status}")
                return await response.read()
        except aiohttp.ClientError as exc:
            raise StoreError(f"{self.location}: GET {key}: {exc}") from exc

    async def delete(self, key: str) -> None:
        """Nothing to do: the sandbox's store lives as long as the sandbox."""

    async def presign(self, key: str, seconds: int = 24 * 3600) -> str:
        """A signed URL the sandbox's file origin accepts until it expires."""
        return self._sign(key, int(time.time()) + seconds)
