"""The async pipeline: submit → poll → prepare download → download, within limits, recorded step by step.

Jobs flow independently: each job in flight is one task, so a slow or failed job never holds up the rest. Jobs
to send wait in the scheduler's ready queue (`schedule`), not as tasks: one feeder starts each job's flow as a
generating slot frees up, and a job that needs others joins the queue once they are done (in the same run).
Three limits apply: `Gate` bounds the jobs generating on the server (``--concurrency``), a semaphore bounds
downloads, and the client's rate limiter bounds requests per second. Every transition is durable in the ledger
before the action that depends on it (the intent before the POST, the jobId as soon as it arrives, a file only
once it is complete and fsynced), which is what makes a rerun after anything safe.

The stages live beside this module: `submit`, `poll` (the poll stage), `download`, and `spending` (the
question before paying, the budget, the credits); `summary` says what a run achieved.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
from collections.abc import Callable, Iterable
from typing import Any

from ..assets.staging import Stager
from ..campaign import Campaign, PlannedJob
from ..client import PhotoGPTClient
from ..errors import RunAborted
from ..ledger import JobRecord, JobState, JobTransition, Ledger, LedgerWriteFailed, Op, VideoState, VideoTransition
from ..ledger.takeover import held_for_user
from ..ledger.versions import unfinished_earlier, unfinished_outside
from ..review.picks import recorded_picks
from ..spend.budget import effective_budget
from . import versions
from .context import EngineOptions, RunContext
from .credits import collect_credits
from .download import Downloads
from .gate import Gate
from .poll import PollStage
from .progress import Progress
from .reconcile import settle_in_doubt
from .schedule import Scheduler, gather_first_error
from .spending import RunSpend
from .start import go_through
from .submit import submit
from .summary import RunSummary, Tally, summarise


class Engine:
    """Makes an output folder match a campaign, through one client and one ledger."""

    def __init__(self, campaign: Campaign, ledger: Ledger, client: PhotoGPTClient,
                 options: EngineOptions | None = None, progress: Progress | None = None,
                 stager: Stager | None = None):
        self.campaign = campaign
        self.ledger = ledger
        self.client = client
        self.output = output = campaign.output
        self.options = options or EngineOptions()
        self.progress = progress or Progress(0, quiet=True)
        self.ctx = RunContext(ledger, client, output, self.options, self.progress, stager=stager,
                              sequences=campaign.sequences)
        self.gate = Gate(self.options.concurrency)
        self.spend = RunSpend(self.ctx, campaign)
        self.downloads = Downloads(self.ctx)
        self.polling = PollStage(self.ctx, self.spend, self.gate, self.downloads)
        self._submits: set[asyncio.Task[Any]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._jobs = {job.id: job for job in campaign.jobs}
        self.scheduler = Scheduler(campaign.needs, (), ())
        self._rows: dict[str, JobRecord] = {}  # the record of each planned job of this run, by id
        self._open = 0  # current jobs' flows started and not ended
        self._changed = asyncio.Event()  # a flow ended: the feeder looks at the queue again
        self._error: BaseException | None = None  # the first error of a flow, which ends the run
        self._feeder: asyncio.Task[None] | None = None
        self._tally: Tally | None = None  # the summary as the run's start found it (see `summary`)

    @property
    def stopping(self) -> bool:
        """The run is stopping (Ctrl-C, a refused key, a failing ledger): nothing new is sent."""
        return self.ctx.stopping

    def stop(self) -> None:
        """Stop (Ctrl-C): nothing new is sent, polling and downloads stop, and a POST already on the wire
        is waited for so that its jobId (or its doubt) is recorded. A rerun picks everything up."""
        if self.ctx.stopping:
            return
        self.ctx.stop()
        self.spend.stop()  # submissions waiting on the budget end now, unsent
        for task in self._tasks:
            task.cancel()

    @property
    def submissions_in_flight(self) -> int:
        """POSTs sent (or about to be) whose answer has not been recorded yet."""
        return sum(not task.done() for task in self._submits)

    def abort(self) -> None:
        """Stop now (a second Ctrl-C): `stop`, and stop waiting for POSTs on the wire as well. A job whose
        POST is cut off stays "submitting" in the ledger, which the next run treats as in doubt, exactly as
        after a crash; a jobId that did arrive is recorded all the same."""
        self.stop()
        for task in self._submits:
            task.cancel()

    async def run(self) -> RunSummary:
        """Run the campaign to completion (or until `stop`); returns the summary."""
        limit = effective_budget(self.options.max_credits, self.campaign.budget_credits)
        if self.options.confirm is not None or limit is not None:  # prices are for the question and budgets
            self.spend.learn_prices()
        # Asked before the ledger records anything of this run: a "no" leaves the folder exactly as it was
        # (the changed jobs still changed, with their earlier versions' files in place).
        preview = self.spend.preview() if self.options.confirm is not None else None
        asked = preview is not None and preview.jobs > 0
        if asked:
            assert self.options.confirm is not None and preview is not None
            try:
                answer = self.options.confirm(preview)
            except KeyboardInterrupt:  # Ctrl-C at the question: nothing was sent
                self.ctx.stopping = True
                answer = False
            if not answer:
                summary = self.summary()
                summary.preview, summary.declined, summary.interrupted = preview, not self.stopping, self.stopping
                return summary
        records, earlier = await self._prepare_ledger()
        if limit is not None:
            # Credits an earlier run could not learn are asked for first: a recorded figure beats an estimate.
            # (With none lacking, collect_credits sends nothing.)
            await collect_credits(self.ledger, self.client)
            self.spend.open_budget(limit)
        poller = asyncio.create_task(self.polling.poller.run(), name="poller")
        credit_watch = (asyncio.create_task(self.spend.watch_credits(), name="credits")
                        if self.spend.budget else None)
        self._schedule(records)
        fixed = [asyncio.create_task(self._job_flow(job, r, k), name=f"job:{r.job_id}" + (f":v{k}" if k else ""))
                 for job, r, k in earlier]
        self._feeder = asyncio.create_task(self._feed(), name="feeder")
        self._tasks.update(fixed)
        self._tasks.add(self._feeder)
        aborted = None
        try:
            await gather_first_error([self._feeder, *fixed])
        except RunAborted as exc:
            # The key was refused mid-run: send nothing more (not even the credits listing), record the
            # rest and report what stands.
            aborted = str(exc)
            self.stop()
        except LedgerWriteFailed as exc:
            # The ledger cannot record (a full disk, a lost server): nothing may be sent that it could not record.
            # Every transition is recorded before what depends on it, so what it holds is consistent. Its message
            # says what happened and what to do.
            aborted = f"{exc}; nothing more was sent"
            self.stop()
        finally:
            for task in (poller, credit_watch):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if self._tasks:  # flows cancelled by a stop end before the run does
                await asyncio.gather(*self._tasks, return_exceptions=True)
            # A POST in flight when we stop still gets its outcome recorded.
            if self._submits:
                await asyncio.gather(*self._submits, return_exceptions=True)
            if not self.stopping:
                # Credits are the API's only cost figure and come only from ``GET /jobs``: see `collect_credits`.
                await collect_credits(self.ledger, self.client)
            with contextlib.suppress(LedgerWriteFailed):  # already reported: the ledger is failing to commit
                await self.ledger.flush()
            manifest_error = self.downloads.close()
        summary = self.summary()
        summary.interrupted = self.stopping and aborted is None
        summary.aborted = aborted
        summary.manifest_error = manifest_error
        summary.preview = preview if asked else None
        return summary

    async def _prepare_ledger(self) -> tuple[list[JobRecord], list[tuple[PlannedJob, JobRecord, int | None]]]:
        """Record the spec in the ledger and decide what each job needs; returns the records to work on (in the
        spec's order), and the earlier versions and those of the jobs it does not hold to follow (see
        `_prepare_earlier`, `_prepare_outside`).

        The current records are gone through a page at a time, keeping only those with something to do (and,
        before that, the few in doubt or with earlier versions): a rerun of 100,000 done jobs holds none."""
        # Every event this run records carries its measured server clock offset: a later run, on any machine,
        # judges an in-doubt submission on the server's clock (see reconcile.py).
        self.ledger.clock_offset = self.client.server_clock_offset
        self.ledger.recover_interrupted()
        self.ledger.register(self.campaign.jobs)
        if not self.options.resubmit_in_doubt:
            doubts = [r for r in self.ledger.in_doubt() if r.job_id in self._jobs]
            # A doubt left by a run whose lock was taken over waits for the user while that run may be alive.
            held = [r for r in doubts if held_for_user(r)]
            if held:
                self.progress.note(f"{len(held)} submission(s) in doubt were left by a run whose lock was taken "
                                   "over and which may still be alive (paused): they are not checked or sent "
                                   "again automatically; see the summary")
            judged = [r for r in doubts if not held_for_user(r)]
            settled = await settle_in_doubt(self.ledger, self.client, judged, self.options.in_doubt_settle_seconds)
            for job_id in settled:
                self.progress.note(f"{job_id}: GET /jobs shows its earlier submission never reached the server; "
                                   "sending it again")
        # Before anything is downloaded: earlier versions' files move out of the way of the current one's.
        changed = {r.job_id for r in self.ledger.replaced()}
        with_earlier = self._current_where(lambda r: r.job_id in changed) if changed else []
        self.downloads.versions, warnings = await versions.place_version_files(self.ledger, self.output,
                                                                               with_earlier)
        for warning in warnings:
            self.progress.note(warning)
        if self.downloads.versions:
            with_earlier = self._current_where(lambda r: r.job_id in changed)
        earlier = await self._prepare_earlier(with_earlier)
        earlier += await self._prepare_outside()
        found = go_through(self.ledger, self.campaign, self._jobs, self.downloads, self.options)
        reset, work = found.reset, found.work
        if reset:
            await self.ledger.write(*reset)
            work += (op.row for op in reset if isinstance(op, JobTransition | VideoTransition))  # changed: read now
        records = self.ledger.records_at(sorted(set(work)))
        # The summary as found: kept for the run's end unless there is work to do (then it is not held through it).
        self._tally = None if records or earlier else found.tally
        self._show_start(found.downloaded, found.total, earlier)
        position = {job_id: i for i, job_id in enumerate(self._jobs)} if records else {}
        return sorted(records, key=lambda r: position[r.job_id]), earlier

    async def _prepare_earlier(self, current: list[JobRecord]) -> list[tuple[PlannedJob, JobRecord, int | None]]:
        """The earlier versions of the campaign's jobs that were sent and are not finished, each as the job it
        sent (its own recorded request), its record and its version number: a paid version is followed to its
        end (polled, priced, its videos downloaded into ``<job-id>/v<k>/``) although the spec no longer asks
        for it.

        An earlier version is never sent again. In doubt, it is settled when ``GET /jobs`` proves it created
        nothing (so nothing was paid); with ``--resubmit-in-doubt`` (the user has checked the dashboard) it is
        closed as failed, unsent; otherwise it stays in doubt, and reported. Its failed downloads are tried again,
        as the current version's are (a download costs nothing)."""
        followed = await self._settle_followed(
            lambda: unfinished_earlier(current, self.ledger.replaced()),
            lambda record: True, "an earlier version's submission")
        return [(job, r, k) for job, r, k in followed]

    async def _prepare_outside(self) -> list[tuple[PlannedJob, JobRecord, int | None]]:
        """The versions that were sent and are not finished of the jobs this run does not hold (removed from the
        spec, or left out by ``--only``): followed to their end as earlier versions are (`_prepare_earlier`),
        never sent. Each comes with its version number if it is no longer its job's current version (its videos
        go to ``<job-id>/v<k>/``), else None (they go to ``<job-id>/<n>.mp4``, as the layout says).

        ``--resubmit-in-doubt`` closes a doubt of a job removed from the spec as failed, unsent, but leaves a
        doubt of a job left out by ``--only`` alone: the user left that job out, and a run that selects it
        decides."""
        ledger, skipped = self.ledger, set(self.campaign.skipped)
        if ledger.count_current() == len(self._jobs):
            # Every job of this run has a current version (`register`), so the ledger holds no other job: none of
            # its versions, current or replaced, is outside the run. (Counted, not read: 20,000 rows.)
            return []
        followed = await self._settle_followed(
            lambda: unfinished_outside(ledger.current_outside(self._jobs), ledger.replaced(), self._jobs),
            lambda record: record.job_id not in skipped, "the submission of a job this run does not hold")
        current = [(job, r, k) for job, r, k in followed if r.current]
        for job, _, k in current:  # the number its current files are listed under in the manifest
            self.downloads.versions[job.id] = k
        return [(job, r, None if r.current else k) for job, r, k in followed]

    async def _settle_followed(self, find: Callable[[], list[tuple[JobRecord, int]]],
                               closable: Callable[[JobRecord], bool], what: str
                               ) -> list[tuple[PlannedJob, JobRecord, int]]:
        """The versions ``find`` returns (sent, unfinished, never to be sent again), made ready to follow: the
        doubts among them that ``GET /jobs`` proves created nothing are settled, with ``--resubmit-in-doubt``
        the other ``closable`` ones are closed as failed, unsent, and their failed downloads are made pending.
        Returns those that can be followed (a jobId, or a success), each as the job it sent, its record and its
        version number."""
        ledger = self.ledger
        followed = find()
        doubts = [r for r, _ in followed if r.state == JobState.IN_DOUBT]
        ops: list[Op] = []
        if doubts:
            # A doubt left by a run whose lock was taken over waits for the user while that run may be alive.
            judged = [r for r in doubts if not held_for_user(r)]
            for job_id in await settle_in_doubt(ledger, self.client, judged, self.options.in_doubt_settle_seconds):
                self.progress.note(f"{job_id}: GET /jobs shows that {what} never reached the server: nothing "
                                   "was paid for it, and it is not sent")
            if self.options.resubmit_in_doubt:
                still = {r.row for r, _ in find() if r.state == JobState.IN_DOUBT}
                ops += [JobTransition(r.row, JobState.FAILED, error="in doubt, and the spec no longer asks for it: "
                                      "not sent again (--resubmit-in-doubt); if it was created, it is on the dashboard")
                        for r in doubts if r.row in still and closable(r)]
        ops += [VideoTransition(r.row, v.n, VideoState.PENDING) for r, _ in followed
                if r.state == JobState.SUCCEEDED for v in r.videos if v.state == VideoState.FAILED]
        if ops:
            await ledger.write(*ops)
        if doubts or ops:
            followed = find()
        return [(PlannedJob(r.job_id, r.model, ledger.body(r.row), r.content_hash), r, k) for r, k in followed
                if (r.state == JobState.SUBMITTED and r.remote_id) or r.state == JobState.SUCCEEDED]

    def _current_where(self, keep: Callable[[JobRecord], bool]) -> list[JobRecord]:
        """The current records of the campaign's jobs that ``keep`` keeps, read a page at a time."""
        return [r for r in self.ledger.iter_jobs() if r.job_id in self._jobs and keep(r)]

    def _show_start(self, downloaded: int, total: int, earlier: Iterable[tuple[PlannedJob, JobRecord, int | None]]
                    ) -> None:
        """Start the progress at the videos already on disk, out of all the campaign's (as the summary counts
        them: a generated job's own videos, else the number asked for; ``downloaded`` and ``total`` count the
        current jobs') and those of the earlier versions it follows."""
        for job, record, _ in earlier:
            if record.state == JobState.SUCCEEDED:
                total += len(record.videos)
                downloaded += sum(v.state == VideoState.DOWNLOADED for v in record.videos)
            else:
                total += job.num_videos
        self.progress.start_at(downloaded, total)

    def _schedule(self, records: list[JobRecord]) -> None:
        """Start the flows of the current jobs already sent (resumed, or with videos to download) and queue the
        planned ones: ready to send, or waiting for their needs (the picks are read once, now), or blocked."""
        gated = any(need.picked for needs in self.campaign.needs.values() for need in needs)
        picks = recorded_picks(self.ledger) if gated else None
        # Every job's record, those left out by --only included (a need met by an earlier run counts), a page at
        # a time: the scheduler keeps those of the jobs others need. Without needs, nothing to read.
        self.scheduler = Scheduler(self.campaign.needs, self.ledger.iter_jobs() if self.campaign.needs else (),
                                   {p["job"] for p in (picks or {}).get("jobs", ())})
        for record in records:
            if record.state == JobState.PLANNED:
                self._rows[record.job_id] = record
                self.scheduler.admit(record.job_id)
            else:
                self._start(record)

    def _start(self, record: JobRecord, slot_held: bool = False) -> None:
        """Start one current job's flow, counted until it ends (`_flow_ended`)."""
        task = asyncio.create_task(self._job_flow(self._jobs[record.job_id], record, slot_held=slot_held),
                                   name=f"job:{record.job_id}")
        self._open += 1
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._flow_ended, record.row, record.job_id))

    async def _feed(self) -> None:
        """Start the queued jobs' flows as generating slots free up, until no flow is left that could make another
        job ready. The first error of a flow ends the run (it cancels this task, which raises it)."""
        try:
            while True:
                if self.scheduler.ready and not self.stopping:
                    await self.gate.acquire()
                    if self.stopping:
                        await self.gate.leave()
                        continue
                    self._start(self._rows.pop(self.scheduler.ready.popleft()), slot_held=True)
                    continue
                if self._open == 0:
                    return
                self._changed.clear()
                await self._changed.wait()
        except asyncio.CancelledError:
            if self._error is not None:
                raise self._error from None
            raise

    def _flow_ended(self, row: int, job_id: str, task: asyncio.Task[None]) -> None:
        """A current job's flow ended: look again at the jobs that need it, wake the feeder; an error ends the
        run."""
        self._open -= 1
        self._tasks.discard(task)
        self._changed.set()
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            if self._error is None:
                self._error = error
                if self._feeder is not None:
                    self._feeder.cancel()
            return
        if self.scheduler.has_dependants(job_id) and not self.stopping:
            ready, blocked = self.scheduler.finished(self.ledger.record(row))
            for job in ready:
                self.progress.event("ready", job)
            for job in blocked:
                self.progress.event("blocked", job, self.scheduler.blocked[job].why)

    async def _job_flow(self, job: PlannedJob, record: JobRecord, earlier: int | None = None,
                        slot_held: bool = False) -> None:
        """One job, start to end: submit it (if planned) or resume watching it, then download its videos.
        ``earlier``: the version number of a version no longer current (never planned: only followed);
        ``slot_held``: the feeder took a generating slot for this planned job, freed when its generation ends."""
        state = record.state
        if state == JobState.PLANNED:
            assert slot_held, "a planned job is started by the feeder, with a slot"
            try:
                if self.stopping:
                    return
                task = asyncio.create_task(submit(self.ctx, self.spend, self.gate, job, record))
                self._submits.add(task)
                task.add_done_callback(self._submit_done)
                task.add_done_callback(functools.partial(self.spend.submission_ended, record.row))
                remote_id = await asyncio.shield(task)
                if remote_id is None:
                    return
                state, just_succeeded = await self.polling.await_generation(job, record.row, remote_id,
                                                                            dt.datetime.now(dt.UTC))
            finally:
                await self.gate.leave()
        elif state == JobState.SUBMITTED and record.remote_id:
            self.gate.enter()
            self.progress.event("resumed", job.id, record.remote_id)
            submitted = dt.datetime.fromtimestamp(record.submitted_at, dt.UTC) if record.submitted_at else None
            try:
                state, just_succeeded = await self.polling.await_generation(job, record.row, record.remote_id,
                                                                            submitted)
            finally:
                await self.gate.leave()
        else:
            just_succeeded = ()
        if state == JobState.SUCCEEDED:
            # A job done before this run started: its record, read at the start, is current (not read again).
            await self.downloads.download_all(job, record.row, just_succeeded, earlier,
                                              record if record.state == JobState.SUCCEEDED else None)

    def _submit_done(self, task: asyncio.Task[Any]) -> None:
        """Forget a finished submission, retrieving its exception: the job flow awaiting it through a shield may
        have been cancelled (the run is ending), and asyncio would print the error as "never retrieved"."""
        self._submits.discard(task)
        if not task.cancelled():
            task.exception()

    def summary(self) -> RunSummary:
        """The summary of the campaign's current jobs, from the ledger, with this run's spend and budget."""
        tally, self._tally = self._tally, None
        if tally is not None and not self.spend.sent and tally.fresh():
            summary = tally.summary()  # nothing written since the run's start went through every job
        else:
            summary = summarise(self.ledger, self.campaign, sent=self.spend.sent)
        self.spend.fill(summary)
        return summary
