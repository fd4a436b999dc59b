"""What the sandbox answers with: the API's ``{"status": "OK" | "NOK"}`` envelopes and the error that becomes a NOK
answer, a proxy's HTML error page, an object store's XML errors, and the route key requests are counted by."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

API_PREFIX = "/api"
ADMIN_PREFIX = "/_sandbox/"
# Marks a request whose connection the lost-POST fault closed, so the counters say "dropped", not a status.
DROPPED = web.RequestKey("sandbox_dropped", bool)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# What a proxy in front of the API answers when the service behind it fails: HTML, not the JSON envelope.
HTML_ERROR_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class ApiError(Exception):
    """An error answered with the NOK envelope."""

    def __init__(self, status: int, message: str, err: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.err = err


def ok(result: Any) -> web.Response:
    """The success envelope."""
    return web.json_response({"status": "OK", "result": result})


def nok(status: int, message: str, err: str, headers: dict[str, str] | None = None) -> web.Response:
    """The failure envelope."""
    body = {"status": "NOK", "message": message, "err": err, "result": None}
    return web.json_response(body, status=status, headers=headers)


def reject_constant(name: str) -> Any:
    """``json.loads``'s ``parse_constant``: refuse NaN and Infinity."""
    # Python's json accepts NaN and Infinity; JSON (and the vendor's server) does not.
    raise ValueError(f"{name} is not valid JSON")


def file_error(status: int, code: str, message: str) -> web.Response:
    """An object-store style XML error, as S3 or GCS signed URLs answer."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>\n"
    )
    return web.Response(status=status, text=body, content_type="application/xml")


def route_key(request: web.Request, prefix: str = "") -> str:
    """``METHOD /route/{id}`` (the route's pattern, ``prefix`` removed) or ``METHOD <unmatched>``."""
    info = request.match_info
    if info.http_exception is not None:
        return f"{request.method} <unmatched>"
    canonical = info.route.resource.canonical if info.route.resource is not None else request.path
    return f"{request.method} {canonical.removeprefix(prefix)}"
