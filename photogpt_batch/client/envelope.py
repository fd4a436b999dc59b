"""Reading the API's answers: the ``{"status": "OK" | "NOK", "message", "err", "result"}`` envelope of a 2xx
answer, the error a non-2xx answer stands for, and the server's clock from its ``Date`` header.

Every server-given string goes through ``scrub`` (the client's: it removes the key) and is shortened before it
reaches an exception, so not even a server that echoes the request can put the key in a message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from multidict import CIMultiDictProxy

from ..net.retry import parse_retry_after
from .errors import STATUS_ERRORS, ApiError, ProtocolError, RateLimited, ServerError

#: Bigger API answers than this are refused: a JSON API that sends more is broken, and the body is held in memory.
MAX_API_BODY = 16 * 1024 * 1024

Scrub = Callable[[str], str]


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, read whole (at most `MAX_API_BODY` bytes)."""

    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    body: bytes


def clock_offset(date: str | None, now: float) -> float | None:
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


_NOT_JSON = object()


def _decode_json(body: bytes) -> Any:
    """The body as JSON, or the `_NOT_JSON` marker."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return _NOT_JSON


def snippet(text: str, scrub: Scrub, limit: int = 300) -> str:
    """``text`` on one line, without the key, at most ``limit`` characters."""
    text = scrub(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(value: Any, scrub: Scrub, limit: int) -> str | None:
    """A server-given field as short, key-free text (a non-string is shown as JSON)."""
    if value is None:
        return None
    return snippet(value if isinstance(value, str) else json.dumps(value, default=str), scrub, limit) or None


def _message_and_err(data: dict[str, Any], scrub: Scrub) -> tuple[str | None, str | None]:
    return _text(data.get("message"), scrub, 300), _text(data.get("err"), scrub, 2000)


def ok_envelope(reply: Reply, where: str, scrub: Scrub) -> dict[str, Any]:
    """The decoded ``{"status": "OK", ...}`` envelope of a 2xx answer; `ApiError` for a NOK one,
    `ProtocolError` for anything else."""
    data = _decode_json(reply.body)
    if data is _NOT_JSON or not isinstance(data, dict):
        raise ProtocolError(
            f"{where}: the answer is not a JSON object",
            status=reply.status,
            err=snippet(reply.body.decode("utf-8", "replace"), scrub),
        )
    status = data.get("status")
    if isinstance(status, str) and status.upper() == "OK":
        return data
    if isinstance(status, str) and status.upper() == "NOK":
        message, err = _message_and_err(data, scrub)
        raise ApiError(message or f"{where}: the server reported a failure", status=reply.status, err=err)
    raise ProtocolError(
        f"{where}: the answer has no OK/NOK status",
        status=reply.status,
        err=snippet(reply.body.decode("utf-8", "replace"), scrub),
    )


def error_for(reply: Reply, where: str, scrub: Scrub) -> ApiError:
    """The exception for a non-2xx answer, with the envelope's message and err when there is one."""
    if 300 <= reply.status < 400:
        location = scrub(reply.headers.get("Location", "?"))
        return ProtocolError(f"{where}: unexpected redirect to {location} (not followed)", status=reply.status)
    data = _decode_json(reply.body)
    message: str | None = None
    err: str | None = None
    if isinstance(data, dict):
        message, err = _message_and_err(data, scrub)
    elif reply.body.strip():
        # A proxy's HTML error page, say: not for the user's eyes, but worth keeping as detail.
        err = snippet(reply.body.decode("utf-8", "replace"), scrub)
    message = message or f"{where}: HTTP {reply.status} {reply.reason}".rstrip()
    cls = STATUS_ERRORS.get(reply.status)
    if cls is RateLimited:
        return RateLimited(
            message, status=reply.status, err=err, retry_after=parse_retry_after(reply.headers.get("Retry-After"))
        )
    if cls is None:
        cls = ServerError if reply.status >= 500 else ApiError
    return cls(message, status=reply.status, err=err)


def result_object(envelope: dict[str, Any], what: str) -> dict[str, Any]:
    """The envelope's ``result``, which must be an object."""
    result = envelope.get("result")
    if not isinstance(result, dict):
        raise ProtocolError(f"{what}: the answer's result is not an object", status=200)
    return result
