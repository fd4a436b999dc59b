"""Credits from ``GET /jobs``, the API's only cost figure, recorded in the ledger for every job that lacks them.

Every job version the ledger holds counts (current or earlier, in the spec or not): a campaign's total is what
it paid. The listing follows every page until each job sought is found: a campaign of 20,000 jobs gets all
20,000 figures. A job the listing cannot report (it was submitted more than the list window ago) keeps
``credits`` null and is reported as still unknown, never counted as 0.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any, Protocol

from ..client import ApiError
from ..ledger import JobRecord, Ledger, LedgerWriteFailed
from .poller import MAX_LIST_WINDOW
from .reconcile import CLOCK_MARGIN

log = logging.getLogger(__name__)


class JobLister(Protocol):
    """The one client call this needs (`client.PhotoGPTClient.list_jobs`)."""

    def list_jobs(self, start: dt.datetime | None = None, end: dt.datetime | None = None) -> Any: ...


def credits_of(item: dict[str, Any]) -> float | None:
    """The ``credits`` of a job as the API reports it, or None when it is missing or not a number."""
    value = item.get("credits")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def lacking_credits(ledger: Ledger) -> list[JobRecord]:
    """Job versions that were created on the server, have finished, and whose credits are not recorded."""
    return ledger.lacking_credits()


async def fetch_credits(client: JobLister, wanted: dict[str, float]) -> dict[str, float]:
    """The credits ``GET /jobs`` reports for the remote job ids in ``wanted`` (id -> submitted at, epoch
    seconds), listing from the earliest of them (within the list window) through every page until all are
    found. Raises `ApiError`."""
    if not wanted:
        return {}
    since = min(wanted.values())
    start = dt.datetime.fromtimestamp(max(since - CLOCK_MARGIN, time.time() - MAX_LIST_WINDOW.total_seconds()),
                                      dt.UTC)
    missing = set(wanted)
    found: dict[str, float] = {}
    async for item in client.list_jobs(start=start):
        remote_id = str(item.get("jobId"))
        credits = credits_of(item)
        if remote_id in missing and credits is not None:
            missing.discard(remote_id)
            found[remote_id] = credits
            if not missing:
                break
    return found


async def collect_credits(ledger: Ledger, client: JobLister) -> int:
    """Record the credits of every finished job in ``ledger`` that lacks them; returns how many were recorded.
    Never raises for the API or the ledger: credits are informative, and a later run (or ``status --refresh``)
    asks again."""
    lacking = lacking_credits(ledger)
    rows = {r.remote_id: r.row for r in lacking if r.remote_id}
    try:
        found = await fetch_credits(client, {r.remote_id: r.submitted_at for r in lacking
                                             if r.remote_id and r.submitted_at})
        for remote_id, credits in found.items():
            await ledger.set_credits(rows[remote_id], credits)
    except (ApiError, LedgerWriteFailed) as exc:
        log.info("could not collect credits: %s", exc)
        return 0
    return len(found)
