"""When to try an HTTP request again: capped exponential backoff with full jitter, and ``Retry-After``.

Pure functions and a frozen policy object, so the client's retry loop can be tested with an injected
random source and an injected sleep: no test has to wait for real time to pass.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try a retryable request and how long to wait in between.

    ``attempts`` counts every try, the first included. The wait before try ``k + 1`` (``k`` from 0) is
    drawn uniformly from ``[0, min(cap, base * 2**k)]`` ("full jitter": many clients that failed together
    do not come back together), unless the server said how long to wait with ``Retry-After``: then that
    wait is used, bounded by ``max_retry_after`` so a broken header cannot park a run for a day.
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 20.0
    max_retry_after: float = 300.0
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.base < 0 or self.cap < 0 or self.max_retry_after < 0:
            raise ValueError("RetryPolicy delays must not be negative")

    def delay(self, retry_index: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry_index`` (0 for the first retry)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.cap, self.base * 2.0 ** min(retry_index, 62))
        return self.random() * ceiling


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; ``None`` if absent or bad.

    A date in the past means "now" (0 s). ``now`` is injectable for tests; it defaults to the current time.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # Reject nan/inf: they would turn into a sleep that never ends or raises.
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; parsedate gives a naive datetime for "-0000".
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max((when - current).total_seconds(), 0.0)
