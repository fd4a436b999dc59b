"""The API's URLs: checking a base URL (the default one is in `photogpt_batch.base_url`), building a path from ids
safely, comparing origins (the key goes only to the base URL's), and the times ``GET /jobs`` takes as query
parameters."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from yarl import URL


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


def origin(url: URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in, so ``https://h`` == ``https://h:443``."""
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


def segment(value: str) -> str:
    """One percent-encoded path segment: a server id such as ``a/b`` or ``..`` cannot change the path."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"an id used in a URL must be a non-empty string, not {value!r}")
    quoted = quote(value, safe="")
    # quote() leaves dots alone, and "." / ".." segments are collapsed by URL normalisation.
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def rfc3339(value: datetime | str) -> str:
    """A time for a query parameter: RFC 3339 in UTC (a string is passed as it is)."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("list_jobs needs timezone-aware datetimes (a naive time is ambiguous)")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

