"""The PhotoGPT HTTP client (aiohttp): envelopes, errors, retries, and the key sent only to the API's origin.

Every call goes through one retry loop with one rule for what may be sent again (`transport`): a ``GET`` is
retried on 429, 5xx and network failures; ``POST /videos/generation`` creates a billed job and is sent again
only when it provably created nothing, else it raises `OutcomeUnknown` and the engine records the job as
*in doubt*. Redirects are not followed, and server strings are scrubbed of the key before they go into an
exception, so not even a server that echoes the request can make the key show up in a message, a log or a
traceback.

The package: `errors` (the `ApiError` tree), `urls` (the base URL, paths from ids, origins), `envelope`
(reading an answer: its envelope, the error it stands for, the server's clock), `transport` (the session,
the key, the limiter and the retry loop) and `api` (`PhotoGPTClient`, the endpoints). Import from here.
"""

from __future__ import annotations

from ..base_url import DEFAULT_BASE_URL
from .api import PhotoGPTClient
from .envelope import MAX_API_BODY
from .errors import (
    ApiError,
    AuthError,
    BadRequest,
    Conflict,
    NotFound,
    OutcomeUnknown,
    ProtocolError,
    RateLimited,
    ServerError,
    TransportError,
)
from .transport import USER_AGENT
from .urls import check_base_url

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_API_BODY",
    "USER_AGENT",
    "ApiError",
    "AuthError",
    "BadRequest",
    "Conflict",
    "NotFound",
    "OutcomeUnknown",
    "PhotoGPTClient",
    "ProtocolError",
    "RateLimited",
    "ServerError",
    "TransportError",
    "check_base_url",
]
