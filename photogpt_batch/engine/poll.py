"""The poll stage: wait for a submitted job to finish on the server (through the shared `JobPoller`) and record
its outcome: success with its videos, or failure with the server's reason."""

from __future__ import annotations

import datetime as dt

from ..campaign import PlannedJob
from ..client import AuthError, BadRequest, NotFound
from ..ledger import JobState
from . import lastframe
from .context import RunContext, key_refused
from .credits import credits_of
from .download import Downloads
from .gate import Gate
from .poller import JobPoller, normalise_status
from .spending import RunSpend


class PollStage:
    """Watches the run's jobs until each succeeds or fails, and records which."""

    def __init__(self, ctx: RunContext, spend: RunSpend, gate: Gate, downloads: Downloads):
        options = ctx.options
        self.ctx, self.spend, self.gate, self.downloads = ctx, spend, gate, downloads
        self.poller = JobPoller(ctx.client, min_interval=options.poll_min_interval,
                                max_interval=options.poll_max_interval,
                                first_interval=options.poll_first_interval)

    async def await_generation(self, job: PlannedJob, row: int, remote_id: str,
                               submitted_at: dt.datetime | None) -> tuple[JobState, tuple[str, ...]]:
        """Wait for the job to finish on the server; record success (with its videos) or failure.

        Returns the job's new state and, on success, the server's video ids in order."""
        ctx = self.ctx
        try:
            result = await self.poller.watch(remote_id, submitted_at)
        except AuthError as exc:
            key_refused(exc)
        except NotFound as exc:
            await ctx.job_failed(row, job.id, f"the server does not know job {remote_id}", exc.err,
                                 shown="unknown to the server")
            return JobState.FAILED, ()
        except BadRequest as exc:  # the API reference: a 400 fails the job with the server's message
            await ctx.job_failed(row, job.id, exc.message, exc.err)
            return JobState.FAILED, ()
        status = normalise_status(result.get("status"))
        if status == "success":
            listed = result.get("videos")
            # A malformed list (not a list, entries without an id) is a server's fault: no videos to fetch.
            videos = [v for v in listed if isinstance(v, dict) and v.get("id")] if isinstance(listed, list) else []
            if not videos:
                await ctx.job_failed(row, job.id, "the job succeeded but lists no videos", shown="no videos")
                return JobState.FAILED, ()
            video_ids = tuple(str(v["id"]) for v in videos)
            # Not waited for: the downloads that follow need only the ids, and their own transitions queue
            # behind this one. A crash before it commits means polling the job once more on the next run.
            await ctx.ledger.mark_succeeded(row, video_ids, credits_of(result), durable=False)
            self.downloads.last_frame_urls[row] = lastframe.image_urls(result)
            await self.spend.paid(row, job.body, credits_of(result), succeeded=True)
            ctx.progress.event("generated", job.id, f"{len(videos)} video(s)")
            await self.gate.recover()
            return JobState.SUCCEEDED, video_ids
        error = str(result.get("error") or f"generation {status or 'failed'}")
        await ctx.job_failed(row, job.id, error, credits=credits_of(result))
        await self.spend.paid(row, job.body, credits_of(result), succeeded=False)
        return JobState.FAILED, ()
