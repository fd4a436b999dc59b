"""Settling in-doubt submissions that provably never created a job.

A submission is *in doubt* when its POST was sent but no jobId came back. ``GET /jobs`` lists the caller's
jobs (ids, statuses and creation times, not the request), so it cannot tell which listed job is ours: adopting
one could adopt a job that another tool created with the same key at the same moment. It can prove a
negative, though: if no job that the ledger does not already know was created anywhere near the moment of the
submission, the submission created nothing, and sending it (once) is safe. Anything else stays in doubt for
the user to decide (``--resubmit-in-doubt``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ..client import ApiError, PhotoGPTClient
from ..ledger import JobRecord, JobState, JobTransition, Ledger
from .poller import MAX_LIST_WINDOW, parse_time

log = logging.getLogger(__name__)

#: How far a server's clock (createdAt) may be from a recording machine's once its measured offset is allowed
#: for (the Date header has whole seconds, the request took some time, a clock drifts during a run); a wider
#: window only makes the proof stricter.
CLOCK_MARGIN = 300.0
#: How far apart two runs' measured offsets can be for the same clocks: the Date header has whole seconds.
#: A doubt's age is measured across two runs' offsets, so it may read this much short; settling waits its
#: ``settle_after`` less this (a second off two minutes; ``GET /jobs`` still looks up to a minute past now).
OFFSET_PRECISION = 1.0
#: Only a doubt the list endpoint's window (at most 7 days) can still cover is judged.
MAX_AGE = MAX_LIST_WINDOW.total_seconds()
#: Listing more than this many jobs to prove a negative is not worth it: leave the doubt to the user.
MAX_LISTED = 20_000


@dataclass(frozen=True)
class Doubt:
    """An in-doubt job version and the span in which its POST went out, on the server's clock: from the
    recorded intent (``sent_at``) to the moment the doubt was recorded (``doubted_at``). The POST itself can
    come long after the intent (the client waits out 429s, minutes with ``Retry-After``), and after a crash
    the doubt is recorded by the next run, later still: the span is then wide, which only makes the proof
    stricter.

    Each end is its event's time put on the server's clock with the offset the recording run measured: the
    two events may come from different runs, on machines whose clocks disagree by minutes, and neither is
    the run judging the doubt now."""

    row: int
    job_id: str
    sent_at: float
    doubted_at: float


def doubts(ledger: Ledger, records: Iterable[JobRecord], server_now: float) -> list[Doubt]:
    """The in-doubt records with the span of their last submission attempt, on the server's clock
    (``server_now``: the server's time now, for a doubt with no recorded doubt event). A record whose span
    cannot be put on the server's clock (an event recorded without its run's clock offset: a ledger written
    before offsets were kept, or a run that could not measure it) is left out: it is never judged."""
    found = []
    for record in records:
        if record.state != JobState.IN_DOUBT:
            continue
        events = [e for e in ledger.events(record.row) if e.n is None]
        sent = [i for i, e in enumerate(events) if e.to_state == JobState.SUBMITTING]
        if not sent:
            continue
        doubted = [e for e in events[sent[-1]:] if e.to_state == JobState.IN_DOUBT]
        sent_at = events[sent[-1]].server_at
        doubted_at = doubted[0].server_at if doubted else server_now
        if sent_at is None or doubted_at is None:
            log.info("%s: the clock of the run that recorded its submission is unknown: it stays in doubt",
                     record.job_id)
            continue
        found.append(Doubt(record.row, record.job_id, sent_at, doubted_at))
    return found


async def settle_in_doubt(ledger: Ledger, client: PhotoGPTClient, records: Iterable[JobRecord],
                 settle_after: float) -> list[str]:
    """Move back to ``planned`` every in-doubt job whose submission provably created nothing; returns their
    ids. Only submissions older than ``settle_after`` seconds are judged: a server may still be creating a
    job for a request whose connection was cut a moment ago.

    Everything is compared on the server's clock: ``createdAt`` is on it, each event's time is put on it with
    the offset its recording run measured (`Doubt`), and "now" with the offset this run's client measured
    (`PhotoGPTClient.server_clock_offset`). Where any of these is unknown, nothing is judged: with clocks
    minutes apart, the window would look at the wrong minutes and "prove" that a job created in the right
    ones does not exist."""
    records = list(records)
    offset = client.server_clock_offset
    if offset is None:
        if any(r.state == JobState.IN_DOUBT for r in records):
            log.info("the server's clock is unknown (no Date header): in-doubt submissions stay in doubt")
        return []
    now = time.time() + offset  # the server's clock
    # Judged only when the whole span is old enough (the POST may have gone out at its very end) and still
    # inside what the list endpoint can show.
    candidates = [d for d in doubts(ledger, records, now)
                  if now - d.doubted_at + OFFSET_PRECISION >= settle_after and now - d.sent_at <= MAX_AGE]
    if not candidates:
        return []
    known = ledger.remote_ids()
    start = dt.datetime.fromtimestamp(min(d.sent_at for d in candidates) - CLOCK_MARGIN, dt.UTC)
    # Up to a little past "now": the offset is measured to a second or so, and a job created a moment ago must
    # not fall just outside the window (the poller's list windows end in the future too).
    end = dt.datetime.fromtimestamp(min(now + 60, max(d.doubted_at for d in candidates) + CLOCK_MARGIN), dt.UTC)
    strangers: list[float] = []
    listed = 0
    try:
        async for item in client.list_jobs(start=start, end=end):
            listed += 1
            if listed > MAX_LISTED:
                return []
            if str(item.get("jobId") or "") in known:
                continue
            created = parse_time(item.get("createdAt"))
            # A job of unknown origin with no readable time could be anyone's, at any moment: no proof at all.
            strangers.append(created.timestamp() if created else float("nan"))
    except ApiError as exc:
        log.info("could not list jobs to settle in-doubt submissions: %s", exc)
        return []
    if any(t != t for t in strangers):  # NaN: an unknown job without a creation time
        return []
    settled = [d for d in candidates if not any(
        d.sent_at - CLOCK_MARGIN <= t <= d.doubted_at + CLOCK_MARGIN for t in strangers)]
    if settled:
        await ledger.write(*(JobTransition(d.row, JobState.PLANNED,
                                      error="GET /jobs shows no job from this submission: it never reached the "
                                      "server, so it is sent again") for d in settled))
    return [d.job_id for d in settled]
