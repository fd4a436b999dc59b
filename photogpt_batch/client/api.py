"""`PhotoGPTClient`: the PhotoGPT Developer API's endpoints, each a method returning what its answer holds."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from yarl import URL

from .envelope import clock_offset, result_object
from .errors import OutcomeUnknown, ProtocolError
from .transport import Transport
from .urls import rfc3339


class PhotoGPTClient(Transport):
    """An async client for the PhotoGPT Developer API; use it as ``async with PhotoGPTClient(...) as api``.

    One `aiohttp.ClientSession` serves every request, API calls and file downloads alike (`session`);
    the ``Authorization`` header is added per request, only to URLs of the base URL's origin, so the
    session itself carries no credentials to give away. ``network`` says which proxy each request goes
    through and which CA certificates TLS trusts (default: `Network.from_environment`, which raises
    ValueError for a setting that cannot work, as does an ``http://`` API URL that a proxy would carry).

    ``requests_per_second`` bounds all calls together (every retry included); ``on_rate_limited`` is
    called with each 429 so the engine can lower its concurrency, and ``rate_limited_count`` counts them.
    ``retry`` and ``sleep`` are injectable so tests run without waiting.
    """

    # ---- endpoints -------------------------------------------------------------------------------------

    async def ping(self) -> str:
        """``GET /ping``: check key, version header and network; returns the server's message."""
        self._last_headers = None
        try:
            envelope = await self._call("GET", self.url("ping"))
        finally:
            # Measured from a refusal too (a 401 still carries the server's clock): `doctor` reports it.
            headers = self._last_headers
            self.server_clock_offset = clock_offset(headers.get("Date") if headers else None, time.time())
            self.server_api_version = headers.get("API-Version") if headers else None
        message = envelope.get("message")
        return message if isinstance(message, str) else ""

    async def submit(self, body: dict[str, Any], *, stop: asyncio.Event | None = None,
                     before_send: Callable[[], Awaitable[None]] | None = None) -> str:
        """``POST /videos/generation``; returns the jobId.

        Raises `OutcomeUnknown` when the request may have created a job but no job id came back; a
        definite refusal raises the status's error (`BadRequest`, `AuthError`, ...). Once ``stop`` is set,
        a submission waiting to be sent again (after a 429, or a connection that failed before sending)
        is not sent: its last failure (`RateLimited` or `TransportError`, both "nothing was created") is
        raised at once instead.

        ``before_send`` is awaited before each attempt goes out, once the rate limiter has let it through:
        the place to record the intent to submit, so that a crash while waiting for the limiter leaves
        nothing in doubt. Whatever it raises is raised from here, with nothing sent.
        """
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        envelope = await self._call("POST", self.url("videos", "generation"), payload, stop=stop,
                                    before_send=before_send)
        result = envelope.get("result")
        job_id = result.get("jobId") if isinstance(result, dict) else None
        if isinstance(job_id, int) and not isinstance(job_id, bool):
            job_id = str(job_id)
        if not isinstance(job_id, str) or not job_id:
            raise OutcomeUnknown(
                "the server accepted the submission but its answer has no jobId: "
                "the job may exist without this tool knowing its id",
                status=200,
                err=self._snippet(json.dumps(envelope, default=str)),
            )
        return job_id

    async def get_job(self, job_id: str) -> dict[str, Any]:
        """``GET /jobs/{id}``: ``jobId``, ``status``, ``videos`` ``[{id, url}]``, ``error``, ..."""
        return result_object(await self._call("GET", self.url("jobs", job_id)), "GET /jobs/{id}")

    async def list_jobs(
        self, start: datetime | str | None = None, end: datetime | str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """``GET /jobs``: yield the caller's jobs (``jobId``, ``status``, ``credits``, ...), following
        ``nextPageToken`` to the last page. Times are RFC 3339 strings or aware datetimes."""
        query: dict[str, str] = {}
        if start is not None:
            query["start"] = rfc3339(start)
        if end is not None:
            query["end"] = rfc3339(end)
        seen_tokens: set[str] = set()
        while True:
            envelope = await self._call("GET", self.url("jobs").with_query(query or None))
            # The API reference shows the page as {"jobs", "nextPageToken"}; accept it inside "result" (the
            # documented envelope) or, failing that, beside "status".
            inner = envelope.get("result")
            page = inner if isinstance(inner, dict) else envelope
            jobs = page.get("jobs")
            if not isinstance(jobs, list) or not all(isinstance(job, dict) for job in jobs):
                raise ProtocolError("GET /jobs: the answer has no list of job objects", status=200)
            for job in jobs:
                yield job
            token = page.get("nextPageToken")
            if token in (None, ""):
                return
            if not isinstance(token, str):
                raise ProtocolError("GET /jobs: nextPageToken is not a string", status=200)
            if token in seen_tokens:
                raise ProtocolError("GET /jobs: the server repeated a page token (paging would never end)")
            seen_tokens.add(token)
            query["pageToken"] = token

    async def create_download(self, video_id: str) -> Any:
        """``GET /videos/{id}/create-download``: ask the server to prepare the file (safe to repeat).

        Returns the server's result (documented as a string); nothing depends on it.
        """
        envelope = await self._call("GET", self.url("videos", video_id, "create-download"))
        return envelope.get("result")

    async def get_download(self, video_id: str) -> dict[str, Any]:
        """``GET /videos/{id}/download``: ``{status: inprogress|ready|error, percentComplete, url}``.

        ``status`` is lower-cased; when it is ``ready``, ``url`` is guaranteed to be an http(s) URL.
        """
        what = "GET /videos/{id}/download"
        result = result_object(await self._call("GET", self.url("videos", video_id, "download")), what)
        status = result.get("status")
        if not isinstance(status, str):
            raise ProtocolError(f"{what}: the answer has no status", status=200)
        result = {**result, "status": status.lower()}
        if result["status"] == "ready":
            url = result.get("url")
            if not isinstance(url, str) or URL(url).scheme not in ("http", "https"):
                raise ProtocolError(f"{what}: status is ready but the answer has no http(s) url", status=200)
        return result

    async def get_video(self, video_id: str) -> dict[str, Any]:
        """``GET /videos/{id}``: one video record (``id``, ``jobId``, ``modelID``, ``url``, ...)."""
        return result_object(await self._call("GET", self.url("videos", video_id)), "GET /videos/{id}")

