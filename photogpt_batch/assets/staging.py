"""`Stager`: a run's local files put on the store once each, and each job's body signed at submission.

The ledger keeps the body with ``asset:sha256:`` references (the job's identity is its files' content); the
body sent holds presigned GET URLs made just before the POST, so a resubmission signs again and an expired
URL is never reused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .body import body_assets, with_urls
from .kinds import LocalAsset
from .local import size_text
from .store import URL_TTL_SECONDS, Store, StoreError

_CHECKS_AT_ONCE = 16


@dataclass(frozen=True)
class UploadPlan:
    """What a run will upload: the files not yet on the store."""

    files: int
    bytes: int
    location: str
    already: int

    def describe(self) -> str:
        """``3 files, 4.2 MB to upload to s3://...`` (and how many are there already)."""
        there = f" ({self.already} already there)" if self.already else ""
        return f"{self.files} file(s), {size_text(self.bytes)} to upload to {self.location}{there}"


class Stager:
    """Stages a campaign's `LocalAsset`s (by sha256) on ``store`` and signs them for each submission."""

    def __init__(self, store: Store, assets: Mapping[str, LocalAsset], ttl_seconds: int = URL_TTL_SECONDS):
        self.store = store
        self.assets = dict(assets)
        self.ttl_seconds = ttl_seconds
        self._staged: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self.uploaded = 0  # files sent this run (tests and the summary read it)

    async def check(self) -> UploadPlan:
        """Ask the store which files it already holds (HEAD each, a few at a time): `StoreError` (``refused``
        for bad credentials) when it cannot answer. Run before anything is sent to the API."""
        limit = asyncio.Semaphore(_CHECKS_AT_ONCE)

        async def there(asset: LocalAsset) -> bool:
            async with limit:
                return await self.store.exists(self.store.key(asset.key_name))

        assets = list(self.assets.values())
        found = await asyncio.gather(*(there(a) for a in assets))
        missing = [a for a, ok in zip(assets, found, strict=True) if not ok]
        self._staged.update(a.sha256 for a, ok in zip(assets, found, strict=True) if ok)
        return UploadPlan(len(missing), sum(a.size for a in missing), self.store.location, len(assets) - len(missing))

    async def _stage(self, asset: LocalAsset) -> str:
        key = self.store.key(asset.key_name)
        if asset.sha256 in self._staged:
            return key
        lock = self._locks.setdefault(asset.sha256, asyncio.Lock())
        async with lock:  # two jobs with the same photo upload it once
            if asset.sha256 not in self._staged:
                if not await self.store.exists(key):
                    await self.store.put(key, asset.path, asset.mime)
                    self.uploaded += 1
                self._staged.add(asset.sha256)
        return key

    async def sendable(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``body`` with each local file staged and its reference replaced by a freshly signed URL.

        `StoreError` when a file cannot be staged or signed (then nothing is to be sent for this job); a file
        the campaign does not know (a body read back from an older spec) is one too."""
        urls: dict[str, str] = {}
        for sha in body_assets(body):
            if sha in urls:
                continue
            asset = self.assets.get(sha)
            if asset is None:
                raise StoreError(f"the local file with sha256 {sha[:12]}... is not in the spec any more")
            key = await self._stage(asset)
            urls[sha] = await self.store.presign(key, self.ttl_seconds)
        return with_urls(body, urls) if urls else dict(body)
