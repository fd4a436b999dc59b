"""The async pipeline: submit → poll → prepare download → download, within limits, recorded step by step.

Jobs flow independently: each job is one task, so a slow or failed job never holds up the rest. Three limits
apply: `Gate` bounds the jobs generating on the server (``--concurrency``), a semaphore bounds downloads, and
the client's rate limiter bounds requests per second. Every transition is durable in the ledger before the
action that depends on it (the intent before the POST, the jobId as soon as it arrives, a file only once it
is complete and fsynced), which is what makes a rerun after anything safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import glob
import logging
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import lastframe, manifest, versions
from .budget import BudgetGate, BudgetReached, SpendPreview
from .client import (
    ApiError,
    AuthError,
    BadRequest,
    Conflict,
    NotFound,
    OutcomeUnknown,
    PhotoGPTClient,
    RateLimited,
    TransportError,
)
from .credits import collect_credits, credits_of, fetch_credits, lacking_credits
from .durable import check_owned_dir, describe
from .fetch import FetchError, IncompleteDownload, UrlExpired, fetch_file, hash_file, part_path
from .gate import Gate
from .jobs import Campaign, PlannedJob
from .ledger import (
    Disposition,
    JobRecord,
    JobState,
    JobTransition,
    Ledger,
    LedgerError,
    Op,
    VideoRecord,
    VideoState,
    VideoTransition,
    pending_videos,
)
from .plugins import get_registry
from .poller import JobPoller, normalise_status
from .pricing import PriceBook, estimate_all, format_credits, learn_prices, price_class
from .progress import Progress
from .reconcile import settle

log = logging.getLogger(__name__)


class _NotSending(Exception):
    """Raised from just before a POST would go out, when the run is stopping: the POST is not sent."""


class RunAborted(Exception):
    """The run cannot go on (a 401: the key is bad). Nothing more is sent; the ledger holds what was done."""


@dataclass
class EngineOptions:
    """Limits and policies of a run."""

    concurrency: int = 4
    download_concurrency: int = 4
    retry_failed: bool = False
    resubmit_in_doubt: bool = False
    read_timeout: float = 60.0
    download_attempts: int = 6
    prepare_attempts: int = 3
    verify_files: bool = True
    poll_min_interval: float = 0.2
    poll_max_interval: float = 8.0
    poll_first_interval: float = 1.0  # until the first job is seen to finish and intervals can adapt
    prepare_first_estimate: float = 0.5  # seconds from create-download to ready, until measured
    in_doubt_settle_seconds: float = 120.0  # an in-doubt submission is judged by GET /jobs only after this
    #: The most the campaign may spend across all its runs (the lower of --max-credits and the spec's
    #: budget); None: no budget.
    max_credits: float | None = None
    #: Asked before the first POST with what the run is about to pay for; False sends nothing (the run ends
    #: with ``declined`` set), KeyboardInterrupt sends nothing (``interrupted``). None: no question.
    confirm: Callable[[SpendPreview], bool] | None = None
    #: Learn prices from the other ledgers on this machine too (the campaign index lists them).
    prices_from_other_ledgers: bool = True


@dataclass
class RunSummary:
    """What a run achieved, for the closing report and the exit code."""

    jobs: int = 0
    succeeded: int = 0
    videos_expected: int = 0
    videos_downloaded: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    video_failures: list[tuple[str, str]] = field(default_factory=list)
    in_doubt: list[str] = field(default_factory=list)
    not_submitted: list[str] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)
    #: The campaign's total credits: every version of every job, every run (None: none known yet).
    credits: float | None = None
    #: How many jobs (versions) that total covers, and how many sent jobs still lack their credits.
    credits_jobs: int = 0
    credits_pending: int = 0
    #: This run's spend: credits of the jobs this run submitted, and how many of them lack credits still.
    run_credits: float = 0.0
    run_credits_pending: int = 0
    #: The budget (credits) when one applies, what it stands at, and how many jobs it kept from submission.
    budget: float | None = None
    budget_committed: float = 0.0
    budget_not_submitted: int = 0
    #: What the run would have paid for, when it asked first (None: no question was asked).
    preview: SpendPreview | None = None
    #: The user answered "no" to the question before paying: nothing was sent.
    declined: bool = False
    interrupted: bool = False
    #: Why the run stopped on its own before the end (the API refused the key mid-run), else None.
    aborted: str | None = None
    #: Why ``manifest.jsonl`` could not be written at the end (the ledger still holds every video), else None.
    manifest_error: str | None = None

    @property
    def complete(self) -> bool:
        """Every job succeeded and every video is on disk."""
        return (not self.failed and not self.video_failures and not self.in_doubt and not self.not_submitted
                and not self.in_flight and self.videos_downloaded == self.videos_expected and not self.interrupted
                and self.aborted is None and self.manifest_error is None and not self.declined)

    @property
    def budget_reached(self) -> bool:
        """The budget kept jobs from being submitted."""
        return self.budget_not_submitted > 0


class Engine:
    """Makes an output folder match a campaign, through one client and one ledger."""

    def __init__(self, campaign: Campaign, ledger: Ledger, client: PhotoGPTClient, output: Path,
                 options: EngineOptions | None = None, progress: Progress | None = None):
        self.campaign = campaign
        self.ledger = ledger
        self.client = client
        self.output = output
        self.options = options or EngineOptions()
        self.progress = progress or Progress(0, quiet=True)
        self.gate = Gate(self.options.concurrency)
        self.downloads = asyncio.Semaphore(self.options.download_concurrency)
        self.poller = JobPoller(client, min_interval=self.options.poll_min_interval,
                                max_interval=self.options.poll_max_interval,
                                first_interval=self.options.poll_first_interval)
        self.stopping = False
        # Set with `stopping`: a submission waiting out a 429 (minutes, with Retry-After) is then not sent.
        self._stop = asyncio.Event()
        self._submits: set[asyncio.Task[Any]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._prepare_estimate = self.options.prepare_first_estimate  # learned as downloads complete
        self._jobs = {job.id: job for job in campaign.jobs}
        self._manifest = manifest.Appender(output)
        self._versions: dict[str, int] = {}  # the current version of each job that has had more than one
        self._last_frame_urls: dict[int, list[str]] = {}  # per job row: the images its success listed
        self.prices: PriceBook | None = None  # learned when the run starts
        self.budget: BudgetGate | None = None
        self._sent: set[int] = set()  # rows this run POSTed (or may have): its spend
        self._credits_wanted: dict[str, tuple[int, float]] = {}  # remote id -> (row, submitted at)
        self._credits_wake = asyncio.Event()
        self._not_submitted_by_budget = 0

    def stop(self) -> None:
        """Stop (Ctrl-C): nothing new is sent, polling and downloads stop, and a POST already on the wire
        is waited for so that its jobId (or its doubt) is recorded. A rerun picks everything up."""
        if self.stopping:
            return
        self.stopping = True
        self._stop.set()
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
            self.prices = learn_prices(self.ledger, get_registry(), self.output,
                                       others=self.options.prices_from_other_ledgers)
        # Asked before the ledger records anything of this run: a "no" leaves the folder exactly as it was
        # (the changed jobs still changed, with their earlier versions' files in place).
        preview = self._preview() if self.options.confirm is not None else None
        asked = preview is not None and preview.jobs > 0
        if asked:
            assert self.options.confirm is not None and preview is not None
            try:
                answer = self.options.confirm(preview)
            except KeyboardInterrupt:  # Ctrl-C at the question: nothing was sent
                self.stopping = True
                answer = False
            if not answer:
                summary = self.summary()
                summary.preview, summary.declined, summary.interrupted = preview, not self.stopping, self.stopping
                return summary
        records = await self._prepare_ledger()
        if limit is not None:
            # Credits an earlier run could not learn are asked for first: a recorded figure beats an estimate.
            if lacking_credits(self.ledger):
                await collect_credits(self.ledger, self.client)
            self.budget = self._open_budget(limit)
        poller = asyncio.create_task(self.poller.run(), name="poller")
        credit_watch = asyncio.create_task(self._watch_credits(), name="credits") if self.budget else None
        self._tasks = [asyncio.create_task(self._job_flow(self._jobs[r.job_id], r), name=f"job:{r.job_id}")
                       for r in records]
        aborted = None
        try:
            await self._gather(self._tasks)
        except RunAborted as exc:
            # The key was refused mid-run: send nothing more (not even the credits listing), record the
            # rest and report what stands.
            aborted = str(exc)
            self.stop()
        except sqlite3.Error as exc:
            # The ledger cannot record (a full disk): nothing may be sent that it could not record. Every
            # transition is recorded before what depends on it, so what it holds is consistent.
            aborted = f"{ledger_write_failure(exc)}; nothing more was sent"
            self.stop()
        finally:
            for task in (poller, credit_watch):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            # A POST in flight when we stop still gets its outcome recorded.
            if self._submits:
                await asyncio.gather(*self._submits, return_exceptions=True)
            if not self.stopping:
                await self._collect_credits()
            with contextlib.suppress(sqlite3.Error):  # already reported: the ledger is failing to commit
                await self.ledger.flush()
            self._manifest.close()
            manifest_error = self._write_manifest()
        summary = self.summary()
        summary.interrupted = self.stopping and aborted is None
        summary.aborted = aborted
        summary.manifest_error = manifest_error
        summary.preview = preview if asked else None
        return summary

    def _preview(self) -> SpendPreview:
        """What the run is about to pay for, read from the ledger before anything is recorded: new and changed
        jobs, failed ones with ``retry_failed``, in-doubt ones with ``resubmit_in_doubt``, and their estimate."""
        why: list[str] = []
        bodies = []
        for item in self.ledger.reconcile(self.campaign.jobs).jobs:
            assert item.planned is not None
            record = item.record
            if item.disposition == Disposition.CHANGED:
                # The spec may have gone back to an earlier version's content: that version is what counts.
                record = next((r for r in self.ledger.versions(item.job_id)
                               if r.content_hash == item.planned.content_hash), None)
            reason = self._reason_to_pay(record)
            if reason is not None:
                why.append("changed" if reason == "new" and item.disposition == Disposition.CHANGED else reason)
                bodies.append(item.planned.body)
        assert self.prices is not None
        return SpendPreview(why.count("new"), why.count("changed"), why.count("retried"), why.count("resubmitted"),
                            estimate_all(self.prices, bodies))

    def _reason_to_pay(self, record: JobRecord | None) -> str | None:
        """Why this run would submit the job version ``record`` (None: nothing sent yet), or None if it would not."""
        if record is None or record.state == JobState.PLANNED:
            return "new"
        if record.state == JobState.FAILED and self.options.retry_failed:
            return "retried"
        if record.state in (JobState.IN_DOUBT, JobState.SUBMITTING) and self.options.resubmit_in_doubt:
            return "resubmitted"
        return None

    def _open_budget(self, limit: float) -> BudgetGate:
        """The budget gate, opened at what the ledger holds: credits recorded (every version, every run) and
        every job sent without credits yet at its estimate. A job a killed run never sent is planned, not
        held; one that may have gone out (in doubt) is held until it is settled."""
        assert self.prices is not None
        gate = BudgetGate(limit)
        for record in [*self.ledger.jobs(), *self.ledger.replaced()]:
            if record.credits is not None:
                gate.spent += record.credits
            elif record.remote_id or record.state in (JobState.IN_DOUBT, JobState.SUBMITTING):
                body = self.ledger.body(record.rowid)
                gate.hold(record.rowid, price_class(body, self.prices.rules), self.prices.estimate(body))
        return gate

    def _write_manifest(self) -> str | None:
        """Rewrite ``manifest.jsonl`` from the ledger; returns why it could not be (the run still reports)."""
        try:
            manifest.rewrite(self.output, lastframe.annotate(self.output, self.ledger.manifest_entries()))
        except OSError as exc:
            return describe(exc)
        return None

    async def _collect_credits(self) -> None:
        """Credits are the API's only cost figure and come only from ``GET /jobs``: see `collect_credits`."""
        await collect_credits(self.ledger, self.client)

    async def _prepare_ledger(self) -> list[JobRecord]:
        """Record the spec in the ledger and decide what each job needs; returns the records to work on."""
        self.ledger.recover_interrupted()
        self.ledger.register(self.campaign.jobs)
        current = {r.job_id: r for r in self.ledger.jobs() if r.job_id in self._jobs}
        if not self.options.resubmit_in_doubt:
            settled = await settle(self.ledger, self.client, current.values(), self.options.in_doubt_settle_seconds)
            for job_id in settled:
                self.progress.note(f"{job_id}: GET /jobs shows its earlier submission never reached the server; "
                                   "sending it again")
            if settled:
                current = {r.job_id: r for r in self.ledger.jobs() if r.job_id in self._jobs}
        # Before anything is downloaded: earlier versions' files move out of the way of the current one's.
        self._versions, warnings = versions.settle(self.ledger, self.output, current.values())
        for warning in warnings:
            self.progress.note(warning)
        if self._versions:
            current = {r.job_id: r for r in self.ledger.jobs() if r.job_id in self._jobs}
        reset: list[Op] = []
        work = []
        for job in self.campaign.jobs:
            record = current[job.id]
            state = record.state
            if (state == JobState.FAILED and self.options.retry_failed) or (
                state == JobState.IN_DOUBT and self.options.resubmit_in_doubt
            ):
                reset.append(JobTransition(record.rowid, JobState.PLANNED))
            elif state == JobState.SUCCEEDED:
                for video in record.videos:
                    if video.state == VideoState.FAILED or (
                        video.state == VideoState.DOWNLOADED and not self._file_intact(video)
                    ):
                        # A download costs nothing: failed or damaged videos are fetched again on every run.
                        reset.append(VideoTransition(record.rowid, video.n, VideoState.PENDING))
            elif state not in (JobState.PLANNED, JobState.SUBMITTED):
                continue
            work.append(record.rowid)
        if reset:
            self.ledger.commit(*reset)
            current = {r.job_id: r for r in self.ledger.jobs() if r.job_id in self._jobs}
        self._show_start(current.values())
        by_row = {r.rowid: r for r in current.values()}
        return [by_row[row] for row in work]

    def _show_start(self, records: Iterable[JobRecord]) -> None:
        """Start the progress at the videos already on disk, out of all the campaign's (as the summary counts
        them: a generated job's own videos, else the number asked for)."""
        downloaded = total = 0
        for record in records:
            if record.state == JobState.SUCCEEDED:
                total += len(record.videos)
                downloaded += sum(v.state == VideoState.DOWNLOADED for v in record.videos)
            else:
                total += self._jobs[record.job_id].num_videos
        self.progress.start_at(downloaded, total)

    def _file_intact(self, video: VideoRecord) -> bool:
        """A downloaded file is trusted only if it is there with the recorded size (and hash)."""
        if not video.path:
            return False
        path = self.output / video.path
        try:
            found = path.lstat()  # a link in the file's place is not the file we wrote
        except OSError:
            return False
        if not stat.S_ISREG(found.st_mode) or found.st_size != video.bytes:
            return False
        try:
            return not self.options.verify_files or hash_file(path).hexdigest() == video.sha256
        except OSError:  # unreadable: fetched again, and the file there is set aside, not trusted
            return False

    async def _gather(self, tasks: list[asyncio.Task[Any]]) -> None:
        pending = set(tasks)
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                # Every exception is retrieved (asyncio would print the others as "never retrieved"); the
                # first one ends the run.
                errors = [task.exception() for task in done if not task.cancelled()]
                first = next((exc for exc in errors if exc is not None), None)
                if first is not None:
                    raise first
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    # ---- one job ---------------------------------------------------------------------------------------

    async def _job_flow(self, job: PlannedJob, record: JobRecord) -> None:
        state = record.state
        if state == JobState.PLANNED:
            if self.stopping:
                return
            async with self.gate.slot():
                if self.stopping:
                    return
                task = asyncio.create_task(self._submit(job, record))
                self._submits.add(task)
                task.add_done_callback(self._submit_done)
                remote_id = await asyncio.shield(task)
                if remote_id is None:
                    return
                state, fresh = await self._await_generation(job, record.rowid, remote_id, dt.datetime.now(dt.UTC))
        elif state == JobState.SUBMITTED and record.remote_id:
            self.gate.enter()
            self.progress.event("resumed", job.id, record.remote_id)
            submitted = dt.datetime.fromtimestamp(record.submitted_at, dt.UTC) if record.submitted_at else None
            try:
                state, fresh = await self._await_generation(job, record.rowid, record.remote_id, submitted)
            finally:
                await self.gate.leave()
        else:
            fresh = ()
        if state == JobState.SUCCEEDED:
            await self._download_all(job, record.rowid, fresh)

    def _submit_done(self, task: asyncio.Task[Any]) -> None:
        """Forget a finished submission, retrieving its exception: the job flow awaiting it through a shield may
        have been cancelled (the run is ending), and asyncio would print the error as "never retrieved"."""
        self._submits.discard(task)
        if not task.cancelled():
            task.exception()

    async def _submit(self, job: PlannedJob, record: JobRecord) -> str | None:
        """Record the intent, POST, record the jobId. Returns it, or None when the job did not get one.

        The intent is recorded once the rate limiter lets the POST through, just before it goes out: a
        crash while waiting for the limiter then leaves the job planned (provably unsent), not in doubt."""
        intent = False
        budget = self.budget

        async def record_intent() -> None:
            nonlocal intent
            if self.stopping:  # Ctrl-C came while waiting: nothing has been sent yet
                raise _NotSending
            if not intent:
                if budget is not None:
                    # Reserved with no await between the check and the hold (see BudgetGate): concurrent
                    # submissions cannot pass the budget together.
                    await self._reserve(budget, job, record)
                await self.ledger.mark_submitting(record.rowid)
                self._sent.add(record.rowid)
                intent = True
            if self.stopping:  # Ctrl-C came while recording: nothing has been sent yet
                raise _NotSending

        try:
            remote_id = await self.client.submit(job.body, stop=self._stop, before_send=record_intent)
        except BudgetReached:
            self._not_submitted_by_budget += 1
            return None
        except _NotSending:
            if intent:
                await self.ledger.mark_unsent(record.rowid)
            await self._release(record.rowid)
            return None
        except AuthError as exc:
            await self.ledger.mark_unsent(record.rowid)
            await self._release(record.rowid)
            raise RunAborted(f"the API refused the key: {exc.message}") from exc
        except OutcomeUnknown as exc:
            await self.ledger.mark_in_doubt(record.rowid, exc.message)
            self.progress.event("in_doubt", job.id, exc.message)
            return None
        except (BadRequest, NotFound) as exc:
            await self.ledger.mark_failed(record.rowid, exc.message, exc.err)
            await self._release(record.rowid)  # refused: no job was created, nothing is billed
            self.progress.event("failed", job.id, exc.message)
            return None
        except (RateLimited, TransportError) as exc:
            # Provably not sent (the client resends a POST only in these cases and gave up): no job exists.
            if isinstance(exc, RateLimited):
                self.gate.back_off()
            await self.ledger.mark_unsent(record.rowid)
            await self._release(record.rowid)
            self.progress.event("not_sent", job.id, str(exc))
            return None
        except ApiError as exc:
            await self.ledger.mark_in_doubt(record.rowid, str(exc))
            self.progress.event("in_doubt", job.id, str(exc))
            return None
        await self.ledger.mark_submitted(record.rowid, remote_id)
        self.progress.event("submitted", job.id, remote_id)
        return remote_id

    # ---- spend -----------------------------------------------------------------------------------------

    async def _reserve(self, budget: BudgetGate, job: PlannedJob, record: JobRecord) -> None:
        """Reserve ``job``'s estimate against the budget; raises `BudgetReached` and stops submitting when
        it would pass it."""
        prices = self.prices
        assert prices is not None
        try:
            await budget.reserve(record.rowid, price_class(job.body, prices.rules), lambda: prices.estimate(job.body))
        except BudgetReached:
            if not budget.announced:
                budget.announced = True
                self.progress.note(f"budget reached: {format_credits(budget.committed)} of "
                                   f"{format_credits(budget.limit)} credits committed; submitting nothing more, "
                                   "the jobs in flight finish")
            raise

    async def _release(self, row: int) -> None:
        if self.budget is not None:
            await self.budget.release(row)

    async def _paid(self, row: int, body: dict[str, Any], credits: float | None, succeeded: bool) -> None:
        """A job of this run finished: its credits replace its reservation and teach its class's price; a job
        without credits yet is left for the credits watch (budgets) or the end-of-run listing."""
        if credits is None:
            if self.budget is not None:
                record = self.ledger.record(row)
                if record.remote_id:
                    self._credits_wanted[record.remote_id] = (row, record.submitted_at or time.time())
                    self._credits_wake.set()
            return
        if succeeded and self.prices is not None:
            self.prices.learn(body, credits)
        if self.budget is not None:
            await self.budget.settle(row, credits)

    async def _watch_credits(self) -> None:
        """With a budget: learn the credits of finished jobs while the run goes on (one ``GET /jobs`` listing
        for all that wait), so actual credits replace estimates and unknown prices become known."""
        budget = self.budget
        assert budget is not None
        misses: dict[str, int] = {}
        while True:
            await self._credits_wake.wait()
            self._credits_wake.clear()
            await asyncio.sleep(self.options.poll_min_interval)  # let a few finish together: one listing
            wanted = dict(self._credits_wanted)
            if not wanted:
                continue
            try:
                found = await fetch_credits(self.client, {rid: at for rid, (_, at) in wanted.items()})
            except ApiError as exc:
                log.info("could not list credits: %s", exc)
                found = {}
            for remote_id, (row, _) in wanted.items():
                credits = found.get(remote_id)
                if credits is not None:
                    del self._credits_wanted[remote_id]
                    try:
                        await self.ledger.set_credits(row, credits)
                    except (sqlite3.Error, LedgerError) as exc:  # the jobs' own writes report a failing ledger
                        log.info("could not record credits: %s", exc)
                    record = self.ledger.record(row)
                    await self._paid(row, self.ledger.body(row), credits, record.state == JobState.SUCCEEDED)
                elif misses.setdefault(remote_id, 0) >= 3:
                    del self._credits_wanted[remote_id]  # the end-of-run listing (or a later run) tries again
                    await budget.price_not_learned(row)
                else:
                    misses[remote_id] += 1
            if self._credits_wanted:
                await asyncio.sleep(self.options.poll_max_interval)
                self._credits_wake.set()

    async def _await_generation(self, job: PlannedJob, key: int, remote_id: str,
                                submitted_at: dt.datetime | None) -> tuple[JobState, tuple[str, ...]]:
        """Wait for the job to finish on the server; record success (with its videos) or failure.

        Returns the job's new state and, on success, the server's video ids in order."""
        try:
            result = await self.poller.watch(remote_id, submitted_at)
        except AuthError as exc:
            raise RunAborted(f"the API refused the key: {exc.message}") from exc
        except NotFound as exc:
            await self.ledger.mark_failed(key, f"the server does not know job {remote_id}", exc.err)
            self.progress.event("failed", job.id, "unknown to the server")
            return JobState.FAILED, ()
        except BadRequest as exc:  # NOTES.md: a 400 fails the job with the server's message
            await self.ledger.mark_failed(key, exc.message, exc.err)
            self.progress.event("failed", job.id, exc.message)
            return JobState.FAILED, ()
        status = normalise_status(result.get("status"))
        if status == "success":
            listed = result.get("videos")
            # A malformed list (not a list, entries without an id) is a server's fault: no videos to fetch.
            videos = [v for v in listed if isinstance(v, dict) and v.get("id")] if isinstance(listed, list) else []
            if not videos:
                await self.ledger.mark_failed(key, "the job succeeded but lists no videos", None)
                self.progress.event("failed", job.id, "no videos")
                return JobState.FAILED, ()
            video_ids = tuple(str(v["id"]) for v in videos)
            # Not waited for: the downloads that follow need only the ids, and their own transitions queue
            # behind this one. A crash before it commits means polling the job once more on the next run.
            await self.ledger.mark_succeeded(key, video_ids, credits_of(result), durable=False)
            self._last_frame_urls[key] = lastframe.image_urls(result)
            await self._paid(key, job.body, credits_of(result), succeeded=True)
            self.progress.event("generated", job.id, f"{len(videos)} video(s)")
            await self.gate.recover()
            return JobState.SUCCEEDED, video_ids
        error = result.get("error") or f"generation {status or 'failed'}"
        await self.ledger.mark_failed(key, str(error), None, credits=credits_of(result))
        await self._paid(key, job.body, credits_of(result), succeeded=False)
        self.progress.event("failed", job.id, str(error))
        return JobState.FAILED, ()

    # ---- downloads -------------------------------------------------------------------------------------

    async def _download_all(self, job: PlannedJob, row: int, fresh: tuple[str, ...] = ()) -> None:
        """Download the job's videos not yet on disk. ``fresh``: the video ids of a success just queued for the
        ledger, whose rows the ledger's readers may not see yet."""
        record = self.ledger.record(row)
        if fresh:
            record = record._replace(state=JobState.SUCCEEDED, videos=pending_videos(row, fresh, time.time()))
        videos = [v for v in record.videos if v.state != VideoState.DOWNLOADED]
        await asyncio.gather(*(self._download(job, record, v) for v in videos))
        if lastframe.asks_for_last_frame(job.body) and not self.stopping:
            await self._fetch_last_frames(job, row)

    async def _fetch_last_frames(self, job: PlannedJob, row: int) -> None:
        """Save the job's last frames beside its downloaded videos (see `lastframe`); a failure is a warning."""
        record = self.ledger.record(row)
        missing = [(i, v.path) for i, v in enumerate(record.videos)
                   if v.state == VideoState.DOWNLOADED and v.path and not lastframe.present(self.output, v.path)]
        if not missing or not record.remote_id:
            return
        urls = self._last_frame_urls.pop(row, None)
        try:
            if urls is None:  # a later run, or a video fetched again: the job's result lists them afresh
                urls = lastframe.image_urls(await self.client.get_job(record.remote_id))
            for index, path in missing:
                if index < len(urls):
                    async with self.downloads:
                        await fetch_file(self.client.session, urls[index], self.output / lastframe.beside(path),
                                         read_timeout=self.options.read_timeout)
            if not urls:
                self.progress.note(f"warning: {job.id}: asked for its last frame, but the server returned none")
        except AuthError as exc:
            raise RunAborted(f"the API refused the key: {exc.message}") from exc
        except (ApiError, FetchError, OSError) as exc:
            self.progress.note(f"warning: {job.id}: last frame not saved ({exc}); the next run tries again")

    async def _download(self, job: PlannedJob, record: JobRecord, video: VideoRecord) -> None:
        """Prepare, fetch and record one video; gives up (video failed) after bounded attempts."""
        # Paths come from the spec's validated job id and our own counter, never from server ids.
        rel = versions.current_path(job.id, video.n)
        dest = self.output / rel
        state = video.state
        url = video.url if state == VideoState.READY else None
        if self.stopping:
            return
        part = part_path(dest)
        try:
            # A job folder that is a link (or a file) is refused: writing through it could land anywhere.
            folder_existed = check_owned_dir(dest.parent)
            if state == VideoState.PENDING or (part.exists() and len(self.ledger.versions(job.id)) > 1):
                # A .part from another version of this job (or another remote job) is not a prefix of this
                # file. A resumed download can meet one too: the spec went back to an earlier version whose
                # download was cut, after a later version wrote its own .part. Nothing tells whose bytes it
                # holds, so with other versions about it starts over (a download costs nothing).
                part.unlink(missing_ok=True)
            self._set_aside_untrusted(job, dest)
        except OSError as exc:
            # Local trouble (permissions, a link, a full disk) fails this video, not the run; the next
            # run tries it again.
            await self._video_failed(job, record, video, f"cannot write {rel}: {describe(exc)}")
            return
        last_error = "download failed"
        for attempt in range(self.options.download_attempts):
            try:
                if url is None:
                    # Bookkeeping that nothing waits on (a crash only means asking create-download again):
                    # it rides with the next group commit instead of costing one of its own.
                    if state != VideoState.PREPARING:
                        await self.ledger.mark_video_preparing(record.rowid, video.n, durable=False)
                        state = VideoState.PREPARING
                    url = await self._prepare(video)
                    if url is None:
                        last_error = "the server could not prepare the download"
                        break
                    await self.ledger.mark_video_ready(record.rowid, video.n, url, durable=False)
                    state = VideoState.READY
                # The slot covers only moving bytes: the server's preparation and our retry pauses hold none.
                async with self.downloads:
                    if self.stopping:
                        return
                    result = await fetch_file(self.client.session, url, dest, read_timeout=self.options.read_timeout)
            except UrlExpired:
                url, last_error = None, "the file URL expired"
                continue
            except IncompleteDownload as exc:
                last_error = str(exc)  # the .part is kept: the next attempt resumes it with Range
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
                continue
            except FetchError as exc:
                url, last_error = None, str(exc)
                continue
            except AuthError as exc:
                raise RunAborted(f"the API refused the key: {exc.message}") from exc
            except ApiError as exc:
                last_error = str(exc)
                await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
                continue
            except OSError as exc:  # our disk, not the network (fetch_file wraps those): retrying will not help
                last_error = f"cannot write {rel}: {describe(exc)}"
                break
            await self.ledger.mark_video_downloaded(record.rowid, video.n, rel, result.bytes, result.sha256)
            lastframe.discard_stale(dest)
            if folder_existed:  # a new folder has nothing set aside in it: no listing on the common path
                _drop_copies_set_aside(dest, result.bytes, result.sha256)
            self._manifest.append({
                "job": job.id, "model": job.model, "jobId": record.remote_id, "videoId": video.video_id,
                "path": rel, "bytes": result.bytes, "sha256": result.sha256,
                "version": self._versions.get(job.id, 1), "current": True,
            })
            self.progress.event("downloaded", job.id, rel)
            return
        await self._video_failed(job, record, video, last_error)

    async def _video_failed(self, job: PlannedJob, record: JobRecord, video: VideoRecord, error: str) -> None:
        await self.ledger.mark_video_failed(record.rowid, video.n, error)
        self.progress.event("video_failed", job.id, error)

    async def _prepare(self, video: VideoRecord) -> str | None:
        """create-download, then poll /download until ready; returns the file URL (None: gave up)."""
        video_id = video.video_id or ""
        for _ in range(self.options.prepare_attempts):
            await self.client.create_download(video_id)
            started = time.monotonic()
            # The first look comes when the file is likely ready, so a typical download costs one poll.
            await asyncio.sleep(self._prepare_estimate)
            first_look = True
            while True:
                try:
                    state = await self.client.get_download(video_id)
                except Conflict:
                    break  # not prepared (any more): ask again
                status = state.get("status")
                if status == "ready":
                    # Ready at the first look says only that the estimate is long enough: shrink it slowly.
                    # A miss says how long it really took: jump just past that.
                    if first_look:
                        self._prepare_estimate = max(0.05, 0.995 * self._prepare_estimate)
                    else:
                        self._prepare_estimate = min(10.0, 1.2 * (time.monotonic() - started))
                    return str(state["url"])
                if status == "error":
                    break
                first_look = False
                await asyncio.sleep(max(0.1, self._prepare_estimate / 3))
        return None

    def _set_aside_untrusted(self, job: PlannedJob, dest: Path) -> None:
        """A file at the destination that no version of this job recorded is moved aside, never
        trusted or lost. One that an earlier version recorded is a paid video that `versions.settle` could
        not move out of the way: it is kept, and this download fails (raises `FileExistsError`)."""
        if not dest.exists():
            return
        rel = dest.relative_to(self.output).as_posix()
        ours = any(v.path == rel and v.state == VideoState.DOWNLOADED
                   for r in self.ledger.versions(job.id) if not r.current for v in r.videos)
        if ours:
            raise FileExistsError(errno.EEXIST, "an earlier version's video is there and could not be moved to "
                                  "its v<k>/ folder; move it yourself and rerun", str(dest))
        aside = dest.with_name(f"{dest.name}{ASIDE_MARK}{time.time_ns()}")
        dest.rename(aside)
        self.progress.note(f"warning: moved a file the ledger does not vouch for aside: {aside}")

    def summary(self) -> RunSummary:
        """The summary of the campaign's current jobs, from the ledger, with this run's spend and budget."""
        summary = summarise(self.ledger, self.campaign, sent=self._sent)
        if self.budget is not None:
            summary.budget = self.budget.limit
            summary.budget_committed = self.budget.committed
            summary.budget_not_submitted = self._not_submitted_by_budget
        return summary


#: What a file moved aside is called: ``<n>.mp4.untrusted-<ns>``.
ASIDE_MARK = ".untrusted-"


def _drop_copies_set_aside(dest: Path, size: int, sha256: str) -> None:
    """Delete the files set aside beside ``dest`` that hold exactly what was just downloaded to it: each was
    this very video, renamed into place by a run that crashed before recording it. This run or an earlier one
    set it aside (a run killed after setting a file aside leaves it for the next to judge). Anything else set
    aside is kept: it is not ours to delete."""
    with contextlib.suppress(OSError):  # tidying only: a file that cannot be checked is kept
        for aside in dest.parent.glob(glob.escape(dest.name) + ASIDE_MARK + "*"):
            if aside.lstat().st_size == size and hash_file(aside).hexdigest() == sha256:
                aside.unlink()


def effective_budget(flag: float | None, spec: float | None) -> float | None:
    """The budget that applies: the lower of ``--max-credits`` and the spec's ``budget.credits``."""
    given = [value for value in (flag, spec) if value is not None]
    return min(given) if given else None


def ledger_write_failure(exc: sqlite3.Error) -> str:
    """What to tell the user when the ledger cannot commit (``exc``: SQLite's error, or the shared ledger's)."""
    if isinstance(exc, LedgerError):  # the shared ledger: its message says what happened and what to do
        return str(exc)
    return f"the ledger cannot be written ({exc}): free some space, or fix the folder"


def summarise(ledger: Ledger, campaign: Campaign, sent: Iterable[int] = ()) -> RunSummary:
    """What the ledger says about a campaign's jobs: done, failed (with reasons), in doubt; the campaign's
    credits (every version, every run: what it paid) and those of the rows in ``sent`` (this run's)."""
    summary = RunSummary(jobs=len(campaign.jobs))
    this_run = set(sent)
    total = 0.0
    for version in [*ledger.jobs(), *ledger.replaced()]:
        if version.credits is not None:
            total += version.credits
            summary.credits_jobs += 1
            if version.rowid in this_run:
                summary.run_credits += version.credits
        elif version.remote_id or version.state == JobState.IN_DOUBT:
            summary.credits_pending += 1
            summary.run_credits_pending += version.rowid in this_run
    summary.credits = total if summary.credits_jobs else None
    for item in ledger.reconcile(campaign.jobs).jobs:
        record = item.record
        expected = item.planned.num_videos if item.planned else 0
        if record is None or record.content_hash != (item.planned.content_hash if item.planned else None):
            summary.not_submitted.append(item.job_id)
            summary.videos_expected += expected
            continue
        if record.state == JobState.SUCCEEDED:
            summary.succeeded += 1
            summary.videos_expected += len(record.videos)
            for video in record.videos:
                if video.state == VideoState.DOWNLOADED:
                    summary.videos_downloaded += 1
                elif video.state == VideoState.FAILED:
                    summary.video_failures.append((f"{item.job_id}/{video.n}", video.error or "download failed"))
            continue
        summary.videos_expected += expected
        if record.state == JobState.FAILED:
            summary.failed.append((item.job_id, record.error or "failed"))
        elif record.state == JobState.IN_DOUBT:
            summary.in_doubt.append(item.job_id)
        elif record.state == JobState.PLANNED:
            summary.not_submitted.append(item.job_id)
        else:
            summary.in_flight.append(item.job_id)
    return summary
