"""The submit stage: record the intent, POST the job, record its jobId (or why it has none)."""

from __future__ import annotations

from ..assets.store import StoreError
from ..campaign import PlannedJob
from ..client import (
    ApiError,
    AuthError,
    BadRequest,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    TransportError,
)
from ..ledger import JobRecord
from ..spend.budget import BudgetReached
from .context import RunContext, key_refused
from .gate import Gate
from .inputs import InputNotReady, with_inputs
from .spending import RunSpend


class _NotSending(Exception):
    """Raised from just before a POST would go out, when the run is stopping: the POST is not sent."""


async def submit(ctx: RunContext, spend: RunSpend, gate: Gate, job: PlannedJob, record: JobRecord) -> str | None:
    """Record the intent, POST, record the jobId. Returns it, or None when the job did not get one.

    The intent is recorded once the rate limiter lets the POST through, just before it goes out: a
    crash while waiting for the limiter then leaves the job planned (provably unsent), not in doubt. Every
    attempt proves the run still holds the campaign's lock right before it goes out (`Ledger.prove_lock`)."""
    intent = False
    ledger, row = ctx.ledger, record.row

    async def record_intent() -> None:
        nonlocal intent
        if ctx.stopping:  # Ctrl-C came while waiting: nothing has been sent yet
            raise _NotSending
        if not intent:
            await spend.reserve(job, record)
            await ledger.mark_submitting(row)  # a write: fenced, so it proves the lock for the first attempt
            spend.sent.add(row)
            intent = True
        else:
            # A later attempt (after a 429's Retry-After, or a connection that failed before sending): the run
            # may have been frozen past its lock's timeout meanwhile and another run taken over. Prove the lock
            # again (LockLost otherwise, and nothing is sent); the job's doubt is the new holder's now.
            await ledger.prove_lock()
        if ctx.stopping:  # Ctrl-C came while recording: nothing has been sent yet
            raise _NotSending

    body = job.body
    try:  # other jobs' outputs found, staged and signed now, before anything is recorded or paid
        body = await with_inputs(ctx, job.body)
        if ctx.stager is not None:  # a resubmission signs again
            body = await ctx.stager.sendable(body)
    except InputNotReady as exc:  # nothing was sent: the job stays planned for the next run
        ctx.progress.event("not_sent", job.id, exc.message)
        return None
    except StoreError as exc:  # nothing was sent: the job stays planned for the next run
        ctx.progress.event("not_sent", job.id, f"its reference file could not be staged: {exc.message}")
        return None
    try:
        remote_id = await ctx.client.submit(body, stop=ctx.stop_event, before_send=record_intent)
    except BudgetReached:  # counted by spend.reserve; nothing was recorded or sent
        return None
    except _NotSending:
        if intent:
            await ledger.mark_unsent(row)
        await spend.release(row)
        return None
    except AuthError as exc:
        await ledger.mark_unsent(row)
        await spend.release(row)
        key_refused(exc)
    except OutcomeUnknown as exc:
        await ledger.mark_in_doubt(row, exc.message)
        ctx.progress.event("in_doubt", job.id, exc.message)
        return None
    except (BadRequest, NotFound) as exc:
        await ctx.job_failed(row, job.id, exc.message, exc.err)
        await spend.release(row)  # refused: no job was created, nothing is billed
        return None
    except (RateLimited, TransportError) as exc:
        # Provably not sent (the client resends a POST only in these cases and gave up): no job exists.
        if isinstance(exc, RateLimited):
            gate.back_off()
        await ledger.mark_unsent(row)
        await spend.release(row)
        ctx.progress.event("not_sent", job.id, str(exc))
        return None
    except ApiError as exc:
        await ledger.mark_in_doubt(row, str(exc))
        ctx.progress.event("in_doubt", job.id, str(exc))
        return None
    await ledger.mark_submitted(row, remote_id)
    ctx.progress.event("submitted", job.id, remote_id)
    return remote_id
