"""The PhotoGPT HTTP client (aiohttp): envelopes, errors, retries, and the key sent only to the API's origin.

Every call goes through one retry loop with one rule for what may be sent again:

* a ``GET`` is retried on 429, 5xx, connection errors and timeouts (capped backoff with full jitter,
  ``Retry-After`` honoured);
* ``POST /videos/generation`` creates a billed job and the API has no idempotency key, so it is sent again
  only when the request provably did not create anything: a 429 answer, or a connection that failed before
  a byte of the request was written. Any other failure after sending (timeout, dropped connection, 5xx,
  an answer without a job id) raises `OutcomeUnknown`, and the engine records the job as *in doubt*.

Redirects are not followed: the API does not redirect, and following one is the classic way a bearer key
reaches another host. Server strings are scrubbed of the key before they go into an exception, so not even
a server that echoes the request can make the key show up in a message, a log or a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp
from aiolimiter import AsyncLimiter
from multidict import CIMultiDictProxy
from yarl import URL

from . import __version__
from .network import Network
from .retry import RetryPolicy, parse_retry_after

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://developer.photogptai.com/api"
USER_AGENT = f"photogpt-batch/{__version__}"

#: Bigger API answers than this are refused: a JSON API that sends more is broken, and the body is held in memory.
MAX_API_BODY = 16 * 1024 * 1024


class ApiError(Exception):
    """An API call failed. ``status`` is the HTTP status (``None`` when no answer came), ``message`` is
    what to show the user, ``err`` is the server's detail (kept in the ledger)."""

    def __init__(self, message: str, *, status: int | None = None, err: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.err = err

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})" if self.status is not None else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r}, err={self.err!r})"


class BadRequest(ApiError):
    """400: the server rejected the request as invalid. Not retried; the job is failed with the message."""


class AuthError(ApiError):
    """401: the key is bad or missing. Not retried; the engine stops the whole run."""


class NotFound(ApiError):
    """404: unknown job, video or model. Not retried."""


class Conflict(ApiError):
    """409: the step depends on another that has not finished (e.g. a download not prepared yet)."""


class RateLimited(ApiError):
    """429: too many requests or too many active jobs. ``retry_after`` is the server's hint in seconds."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        err: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, err=err)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the server failed. GETs are retried before this is raised."""


class ProtocolError(ApiError):
    """The answer does not have the documented shape (not JSON, no envelope, a field of the wrong type...)."""


class TransportError(ApiError):
    """No answer: connection refused, DNS failure, timeout or dropped connection (after retries for a GET)."""


class OutcomeUnknown(ApiError):
    """A submission was sent but its outcome is unknown: the job may or may not exist (and be billed).

    Never resent automatically: the engine records the job as ``in_doubt``.
    """


_STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthError,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}

# Failures that happen before any byte of the request is written: refused, DNS, TLS handshake, connect
# timeout (aiohttp also raises ConnectionTimeoutError while waiting for a pooled connection), a proxy that
# refused to open the CONNECT tunnel (407, 403, 502...). Safe to resend.
_NOT_SENT_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError,
                                                     aiohttp.ClientHttpProxyError)
# Everything else that can go wrong on the wire: the request may have reached the server.
_WIRE_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError)


@dataclass(frozen=True)
class _Reply:
    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    body: bytes


def check_base_url(base_url: str) -> URL:
    """``base_url`` parsed, or ValueError when it cannot be the API's base URL (not http(s), no host, user
    info, ...). The messages never show a password: a URL with an ``@`` that is not user info is not echoed."""
    # Anything with an "@" may hold a password that yarl did not see as one (a malformed or scheme-less URL).
    shown = f"{base_url!r}" if "@" not in base_url else "the URL (not shown: it contains '@')"
    try:
        base = URL(base_url)
        host = base.host
    except (TypeError, ValueError) as exc:
        # yarl's reason may quote parts of the URL, so it is left out whenever the URL is.
        raise ValueError(f"not a URL: {shown}" + (f" ({exc})" if "@" not in base_url else "")) from exc
    if base.user is not None or base.password is not None:
        # aiohttp would turn user info into an Authorization header that clashes with the API key's.
        raise ValueError(f"the API base URL must not contain a user name or password (the key goes in "
                         f"PHOTOGPT_API_KEY): {str(base.with_user(None))!r}")
    if base.scheme not in ("http", "https") or not host:
        raise ValueError(f"the API base URL must be an http(s) URL with a host, not {shown}")
    if base.query_string or base.fragment:
        raise ValueError(f"the API base URL must not have a query or fragment: {shown}")
    return base


def _clock_offset(date: str | None, now: float) -> float | None:
    """Seconds the clock behind an HTTP ``Date`` header is ahead of ``now`` (None: no usable header).

    The header has whole seconds, truncated: its clock read on average half a second past what it shows."""
    if not date:
        return None
    try:
        when = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return when.timestamp() + 0.5 - now


def _not_sent(exc: BaseException) -> str:
    """How a request failed before it was sent, naming the proxy when that is where it failed."""
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return f"the proxy refused to open a tunnel (HTTP {exc.status} {exc.message})"
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return "could not connect to the proxy"
    return "could not connect"


def _located(failure: ApiError, where: str) -> str:
    """``failure`` as text that names the request once: most messages start with it already, a server's own
    message (``busy (HTTP 503)``) does not."""
    text = str(failure)
    return text if text.startswith(where) else f"{where}: {text}"


def _origin(url: URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in, so ``https://h`` == ``https://h:443``."""
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


def _segment(value: str) -> str:
    """One percent-encoded path segment: a server id such as ``a/b`` or ``..`` cannot change the path."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"an id used in a URL must be a non-empty string, not {value!r}")
    quoted = quote(value, safe="")
    # quote() leaves dots alone, and "." / ".." segments are collapsed by URL normalisation.
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def _rfc3339(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("list_jobs needs timezone-aware datetimes (a naive time is ambiguous)")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


_NOT_JSON = object()


def _decode_json(body: bytes) -> Any:
    """The body as JSON, or the `_NOT_JSON` marker."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return _NOT_JSON


class PhotoGPTClient:
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

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        requests_per_second: float | None = 5.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_rate_limited: Callable[[RateLimited], None] | None = None,
        network: Network | None = None,
    ) -> None:
        self._base = base = check_base_url(base_url)
        # Proxies and CA certificates: the environment's unless given (`Network.direct` for none).
        self._network = Network.from_environment() if network is None else network
        self._network.check_api(base)
        self._origin = _origin(base)
        # Name-mangled and never formatted into anything but the Authorization header.
        self.__key = api_key or None
        self._session = session
        self._owns_session = session is None
        # connect < total: a connect timeout is then always raised as ConnectionTimeoutError, which proves
        # the request was not sent; the total timeout covers sending and the answer.
        self._connect_timeout = min(connect_timeout, timeout)
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=self._connect_timeout)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._on_rate_limited = on_rate_limited
        self._limiter = _make_limiter(requests_per_second)
        self.rate_limited_count = 0
        self._last_headers: CIMultiDictProxy[str] | None = None  # the headers of the latest answer
        #: Server clock − local clock in seconds, measured by `ping` from the answer's Date header (None: the
        #: server sent none). Jobs' createdAt times are on the server's clock; the ledger's on ours.
        self.server_clock_offset: float | None = None
        #: The ``API-Version`` header of the answer to `ping`, when the server sends one.
        self.server_api_version: str | None = None

    def __repr__(self) -> str:
        key = "set" if self.__key else "none"
        return f"PhotoGPTClient(base_url={str(self._base)!r}, api_key=<{key}>)"

    async def __aenter__(self) -> Self:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
                headers={"User-Agent": USER_AGENT},
                **self._network.session_options(),  # type: ignore[arg-type]
            )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session if this client created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The shared session (for `photogpt_batch.fetch.fetch_file`); it carries no Authorization header."""
        if self._session is None:
            raise RuntimeError("PhotoGPTClient is not open: use 'async with PhotoGPTClient(...) as api'")
        return self._session

    # ---- endpoints -------------------------------------------------------------------------------------

    async def ping(self) -> str:
        """``GET /ping``: check key, version header and network; returns the server's message."""
        self._last_headers = None
        try:
            envelope = await self._call("GET", self.url("ping"))
        finally:
            # Measured from a refusal too (a 401 still carries the server's clock): `doctor` reports it.
            headers = self._last_headers
            self.server_clock_offset = _clock_offset(headers.get("Date") if headers else None, time.time())
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
        return self._result_object(await self._call("GET", self.url("jobs", job_id)), "GET /jobs/{id}")

    async def list_jobs(
        self, start: datetime | str | None = None, end: datetime | str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """``GET /jobs``: yield the caller's jobs (``jobId``, ``status``, ``credits``, ...), following
        ``nextPageToken`` to the last page. Times are RFC 3339 strings or aware datetimes."""
        query: dict[str, str] = {}
        if start is not None:
            query["start"] = _rfc3339(start)
        if end is not None:
            query["end"] = _rfc3339(end)
        seen_tokens: set[str] = set()
        while True:
            envelope = await self._call("GET", self.url("jobs").with_query(query or None))
            # NOTES.md shows the page as {"jobs", "nextPageToken"}; accept it inside "result" (the
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
        result = self._result_object(await self._call("GET", self.url("videos", video_id, "download")), what)
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
        return self._result_object(await self._call("GET", self.url("videos", video_id)), "GET /videos/{id}")

    # ---- plumbing --------------------------------------------------------------------------------------

    def url(self, *segments: str) -> URL:
        """The API URL for path segments under the base URL (its ``/api`` prefix kept, each segment escaped)."""
        path = self._base.raw_path.rstrip("/") + "/" + "/".join(_segment(s) for s in segments)
        return self._base.with_path(path, encoded=True)

    def _headers(self, url: URL, *, json_body: bool) -> dict[str, str]:
        headers = {"API-Version": "1", "Accept": "application/json", "User-Agent": USER_AGENT}
        if json_body:
            headers["Content-Type"] = "application/json"
        if self.__key is not None and _origin(url) == self._origin:
            headers["Authorization"] = f"Bearer {self.__key}"
        return headers

    def _scrub(self, text: str) -> str:
        key = self.__key
        if not key:
            return text
        if len(key) >= 8:
            return text.replace(key, "<api key>")
        # A key this short (a test key) is also an everyday substring: "k" would turn "not known" into
        # "not <api key>nown". Only where it stands as a token of its own.
        return re.sub(rf"(?<![\w-]){re.escape(key)}(?![\w-])", "<api key>", text)

    def _snippet(self, text: str, limit: int = 300) -> str:
        text = self._scrub(" ".join(text.split()))
        return text if len(text) <= limit else text[: limit - 1] + "…"

    async def _call(self, method: str, url: URL, payload: bytes | None = None,
                    stop: asyncio.Event | None = None,
                    before_send: Callable[[], Awaitable[None]] | None = None) -> dict[str, Any]:
        """Send a request with the retry rules in the module docstring; return the OK envelope. A retry
        that would come after ``stop`` is set is not made: the last failure is raised instead."""
        is_post = method == "POST"
        where = f"{method} {url.path}"
        retry_index = 0
        while True:
            retry_after: float | None = None
            cause: BaseException | None = None
            try:
                reply = await self._attempt(method, url, payload, before_send)
                result = self._envelope(reply, where) if 200 <= reply.status < 300 else None
            except _NOT_SENT_ERRORS as exc:
                failure: ApiError = TransportError(f"{where}: {_not_sent(exc)}: {self._scrub(str(exc))}")
                cause = exc
            except (*_WIRE_ERRORS, ProtocolError) as exc:  # type: ignore[misc]  # mypy cannot read a starred tuple
                if is_post:
                    detail = exc.message if isinstance(exc, ProtocolError) else self._scrub(str(exc))
                    raise OutcomeUnknown(
                        f"{where}: no usable answer after the request was sent "
                        f"({detail or type(exc).__name__}): the job may or may not have been created",
                        status=exc.status if isinstance(exc, ProtocolError) else None,
                        err=exc.err if isinstance(exc, ProtocolError) else None,
                    ) from exc
                if isinstance(exc, ProtocolError):
                    raise
                failure = TransportError(f"{where}: {self._scrub(str(exc)) or type(exc).__name__}")
                cause = exc
            else:
                if result is not None:
                    return result
                failure = self._error(reply, where)
                if isinstance(failure, RateLimited):
                    self.rate_limited_count += 1
                    if self._on_rate_limited is not None:
                        self._on_rate_limited(failure)
                    retry_after = failure.retry_after
                elif is_post and not 400 <= reply.status < 500:
                    # 5xx or a redirect: the server saw the request and said nothing definite.
                    raise OutcomeUnknown(
                        f"{where}: {failure.message}: the job may or may not have been created",
                        status=reply.status,
                        err=failure.err,
                    )
                elif not isinstance(failure, ServerError) or is_post:
                    raise failure
            if retry_index + 1 >= self._retry.attempts or (stop is not None and stop.is_set()):
                raise failure from cause
            delay = self._retry.delay(retry_index, retry_after)
            log.warning("%s; retry %d/%d in %.1f s", _located(failure, where), retry_index + 1,
                        self._retry.attempts - 1, delay)
            if not await self._wait_unless_stopped(delay, stop):
                raise failure from cause
            retry_index += 1

    async def _wait_unless_stopped(self, delay: float, stop: asyncio.Event | None) -> bool:
        """Wait ``delay`` seconds; False as soon as ``stop`` is set (a Retry-After can be minutes long)."""
        if stop is None:
            await self._sleep(delay)
            return True
        sleeper = asyncio.ensure_future(self._sleep(delay))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
        return not stop.is_set()

    async def _attempt(self, method: str, url: URL, payload: bytes | None,
                       before_send: Callable[[], Awaitable[None]] | None = None) -> _Reply:
        if self._limiter is not None:
            await self._limiter.acquire()
        if before_send is not None:
            await before_send()
        async with self.session.request(
            method,
            url,
            data=payload,
            headers=self._headers(url, json_body=payload is not None),
            timeout=self._timeout,
            allow_redirects=False,
        ) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > MAX_API_BODY:
                    raise ProtocolError(
                        f"{method} {url.path}: the answer is larger than {MAX_API_BODY} bytes", status=response.status
                    )
                chunks.append(chunk)
            self._last_headers = response.headers
            return _Reply(response.status, response.reason or "", response.headers, b"".join(chunks))

    def _envelope(self, reply: _Reply, where: str) -> dict[str, Any]:
        """The decoded ``{"status": "OK", ...}`` envelope of a 2xx answer."""
        data = _decode_json(reply.body)
        if data is _NOT_JSON or not isinstance(data, dict):
            raise ProtocolError(
                f"{where}: the answer is not a JSON object",
                status=reply.status,
                err=self._snippet(reply.body.decode("utf-8", "replace")),
            )
        status = data.get("status")
        if isinstance(status, str) and status.upper() == "OK":
            return data
        if isinstance(status, str) and status.upper() == "NOK":
            message, err = self._message_and_err(data)
            raise ApiError(message or f"{where}: the server reported a failure", status=reply.status, err=err)
        raise ProtocolError(
            f"{where}: the answer has no OK/NOK status",
            status=reply.status,
            err=self._snippet(reply.body.decode("utf-8", "replace")),
        )

    def _message_and_err(self, data: dict[str, Any]) -> tuple[str | None, str | None]:
        return self._text(data.get("message"), 300), self._text(data.get("err"), 2000)

    def _text(self, value: Any, limit: int) -> str | None:
        """A server-given field as short, key-free text (a non-string is shown as JSON)."""
        if value is None:
            return None
        return self._snippet(value if isinstance(value, str) else json.dumps(value, default=str), limit) or None

    def _error(self, reply: _Reply, where: str) -> ApiError:
        """The exception for a non-2xx answer, with the envelope's message and err when there is one."""
        if 300 <= reply.status < 400:
            location = self._scrub(reply.headers.get("Location", "?"))
            return ProtocolError(f"{where}: unexpected redirect to {location} (not followed)", status=reply.status)
        data = _decode_json(reply.body)
        message: str | None = None
        err: str | None = None
        if isinstance(data, dict):
            message, err = self._message_and_err(data)
        elif reply.body.strip():
            # A proxy's HTML error page, say: not for the user's eyes, but worth keeping as detail.
            err = self._snippet(reply.body.decode("utf-8", "replace"))
        message = message or f"{where}: HTTP {reply.status} {reply.reason}".rstrip()
        cls = _STATUS_ERRORS.get(reply.status)
        if cls is RateLimited:
            return RateLimited(
                message, status=reply.status, err=err, retry_after=parse_retry_after(reply.headers.get("Retry-After"))
            )
        if cls is None:
            cls = ServerError if reply.status >= 500 else ApiError
        return cls(message, status=reply.status, err=err)

    @staticmethod
    def _result_object(envelope: dict[str, Any], what: str) -> dict[str, Any]:
        result = envelope.get("result")
        if not isinstance(result, dict):
            raise ProtocolError(f"{what}: the answer's result is not an object", status=200)
        return result


def _make_limiter(requests_per_second: float | None) -> AsyncLimiter | None:
    if requests_per_second is None:
        return None
    if requests_per_second <= 0:
        raise ValueError("requests_per_second must be positive (or None for no limit)")
    # AsyncLimiter's capacity must hold one request, so slow rates stretch the period instead.
    if requests_per_second >= 1:
        return AsyncLimiter(requests_per_second, 1.0)
    return AsyncLimiter(1, 1.0 / requests_per_second)
