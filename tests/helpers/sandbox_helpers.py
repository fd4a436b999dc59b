"""Helpers shared by the sandbox tests: headers, timings, a deadline-based wait and a small API client."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import aiohttp

from photogpt_batch.sandbox import Sandbox

HEADERS = {"Authorization": "Bearer test-key", "API-Version": "1"}
# Short timings keep the suite fast; tests that need exact phases use a ManualClock instead.
FAST: dict[str, Any] = {
    "generation_seconds": (0.05, 0.1),
    "queue_seconds": 0.02,
    "prepare_seconds": 0.1,
    "video_bytes": 20_000,
}
MINIMAL = {"modelID": "veo-3.1", "prompt": "a red ball bouncing"}


async def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy; fail after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


class Api:
    """A thin client for tests: every call returns (status, decoded JSON or text)."""

    def __init__(self, session: aiohttp.ClientSession, sandbox: Sandbox) -> None:
        self.session = session
        self.sandbox = sandbox

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        kwargs.setdefault("headers", HEADERS)
        async with self.session.request(method, self.sandbox.base_url + path, **kwargs) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("GET", path, **kwargs)

    async def post(self, body: Any, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("POST", "/videos/generation", json=body, **kwargs)

    async def submit(self, body: dict[str, Any] | None = None) -> str:
        """POST a body (default MINIMAL) that must be accepted; return its jobId."""
        status, data = await self.post(body or MINIMAL)
        assert status == 200, data
        return data["result"]["jobId"]

    async def job(self, job_id: str) -> dict[str, Any]:
        status, data = await self.get(f"/jobs/{job_id}")
        assert status == 200, data
        return data["result"]

    async def wait_job(self, job_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """Poll until the job is terminal; return its result."""

        async def terminal() -> dict[str, Any] | None:
            job = await self.job(job_id)
            return job if job["status"].lower() in ("success", "failed") else None

        return await wait_until(terminal, timeout)

    async def ready_url(self, video_id: str, timeout: float = 5.0) -> str:
        """Run the download flow to the end; return the signed file URL."""
        status, data = await self.get(f"/videos/{video_id}/create-download")
        assert status == 200, data

        async def ready() -> str | None:
            _, body = await self.get(f"/videos/{video_id}/download")
            return body["result"]["url"] if body["result"]["status"] == "ready" else None

        return await wait_until(ready, timeout)
