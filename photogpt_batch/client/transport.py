"""How a request travels: one aiohttp session, the key added only for the API's origin, the rate limiter, and
one retry loop with one rule for what may be sent again.

* a ``GET`` is retried on 429, 5xx, connection errors and timeouts (capped backoff with full jitter,
  ``Retry-After`` honoured), but not when the failure will not change by waiting: a certificate that does not
  verify, or a proxy that asks for credentials or forbids the tunnel (407, 403);
* ``POST /videos/generation`` creates a billed job and the API has no idempotency key, so it is sent again
  only when the request provably did not create anything: a 429 answer, or a connection that failed before
  a byte of the request was written. Any other failure after sending (timeout, dropped connection, 5xx,
  an answer without a job id) raises `OutcomeUnknown`, and the engine records the job as *in doubt*.

Redirects are not followed: the API does not redirect, and following one is the classic way a bearer key
reaches another host.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiolimiter import AsyncLimiter
from multidict import CIMultiDictProxy
from yarl import URL

from .. import __version__
from ..net.network import Network
from ..net.retry import RetryPolicy
from .envelope import MAX_API_BODY, Reply, error_for, ok_envelope, snippet
from .errors import ApiError, OutcomeUnknown, ProtocolError, RateLimited, ServerError, TransportError
from .urls import check_base_url, origin, segment

# The package's logger: what the retries say is the client's, whichever module says it.
log = logging.getLogger("photogpt_batch.client")

USER_AGENT = f"photogpt-batch/{__version__}"

# Failures that happen before any byte of the request is written: refused, DNS, TLS handshake, connect
# timeout (aiohttp also raises ConnectionTimeoutError while waiting for a pooled connection), a proxy that
# refused to open the CONNECT tunnel (407, 403, 502...). Safe to resend.
_NOT_SENT_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError,
                                                     aiohttp.ClientHttpProxyError)
# Everything else that can go wrong on the wire: the request may have reached the server.
_WIRE_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError)


def not_sent(exc: BaseException) -> str:
    """How a request failed before it was sent, naming the proxy when that is where it failed."""
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return f"the proxy refused to open a tunnel (HTTP {exc.status} {exc.message})"
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return "could not connect to the proxy"
    return "could not connect"


def _lasting(exc: BaseException) -> bool:
    """A failure before sending that a retry seconds later would meet again: a certificate that does not verify,
    a proxy that wants credentials or forbids the tunnel. A refused connection or a proxy's 502 may pass."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return True
    return isinstance(exc, aiohttp.ClientHttpProxyError) and exc.status in (403, 407)


def located(failure: ApiError, where: str) -> str:
    """``failure`` as text that names the request once: most messages start with it already, a server's own
    message (``busy (HTTP 503)``) does not."""
    text = str(failure)
    return text if text.startswith(where) else f"{where}: {text}"


class Transport:
    """The plumbing under `PhotoGPTClient`: the session, the key, the limiter and the retry loop (`_call`).
    See `PhotoGPTClient` for the arguments."""

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
        self._origin = origin(base)
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
        return f"{type(self).__name__}(base_url={str(self._base)!r}, api_key=<{key}>)"

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
        """The shared session (for `photogpt_batch.engine.fetch.fetch_file`); it carries no Authorization header."""
        if self._session is None:
            raise RuntimeError("PhotoGPTClient is not open: use 'async with PhotoGPTClient(...) as api'")
        return self._session

    def url(self, *segments: str) -> URL:
        """The API URL for path segments under the base URL (its ``/api`` prefix kept, each segment escaped)."""
        path = self._base.raw_path.rstrip("/") + "/" + "/".join(segment(s) for s in segments)
        return self._base.with_path(path, encoded=True)

    def _headers(self, url: URL, *, json_body: bool) -> dict[str, str]:
        headers = {"API-Version": "1", "Accept": "application/json", "User-Agent": USER_AGENT}
        if json_body:
            headers["Content-Type"] = "application/json"
        if self.__key is not None and origin(url) == self._origin:
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
        return snippet(text, self._scrub, limit)

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
                result = ok_envelope(reply, where, self._scrub) if 200 <= reply.status < 300 else None
            except _NOT_SENT_ERRORS as exc:
                failure: ApiError = TransportError(f"{where}: {not_sent(exc)}: {self._scrub(str(exc))}")
                if _lasting(exc):
                    raise failure from exc
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
                failure = error_for(reply, where, self._scrub)
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
            log.warning("%s; retry %d/%d in %.1f s", located(failure, where), retry_index + 1,
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
                       before_send: Callable[[], Awaitable[None]] | None = None) -> Reply:
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
            return Reply(response.status, response.reason or "", response.headers, b"".join(chunks))


def _make_limiter(requests_per_second: float | None) -> AsyncLimiter | None:
    if requests_per_second is None:
        return None
    if requests_per_second <= 0:
        raise ValueError("requests_per_second must be positive (or None for no limit)")
    # AsyncLimiter's capacity must hold one request, so slow rates stretch the period instead.
    if requests_per_second >= 1:
        return AsyncLimiter(requests_per_second, 1.0)
    return AsyncLimiter(1, 1.0 / requests_per_second)
