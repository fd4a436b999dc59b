"""The client's errors: `ApiError` and one subclass per way a call can fail.

::

    ApiError                 an API call failed (``status``: the HTTP status or None, ``err``: the server's detail)
    ├── BadRequest           400: the request is invalid; not retried
    ├── AuthError            401: the key is bad or missing; the engine stops the run
    ├── NotFound             404: unknown job, video or model
    ├── Conflict             409: a step that depends on another not finished yet
    ├── RateLimited          429: too many requests or active jobs (``retry_after``)
    ├── ServerError          5xx, after the retries a GET gets
    ├── ProtocolError        an answer without the documented shape
    ├── TransportError       no answer at all (refused, DNS, timeout, dropped)
    └── OutcomeUnknown       a submission was sent and nobody knows if it created a job
"""

from __future__ import annotations

from ..errors import BatchError


class ApiError(BatchError):
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


#: The error class of each HTTP status that has one of its own (other 5xx: `ServerError`; the rest: `ApiError`).
STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthError,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}
