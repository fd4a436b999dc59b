"""The download stage: prepare each generated video (create-download, then poll until ready), stream it to its
place, record it, and keep ``manifest.jsonl`` beside the videos; with the stage's own state (the download slots,
the learned preparation time, the last frames a success listed)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import glob
import itertools
import os
import stat
import time
from collections.abc import Sequence
from pathlib import Path

from .. import manifest
from ..campaign import PlannedJob
from ..client import ApiError, AuthError, Conflict
from ..io.checked import CheckedFiles
from ..io.durable import describe, owned_dirs
from ..layout import ASIDE_MARK, earlier_video_path, last_frame_path, last_frame_saved, part_path, video_path
from ..ledger import JobBrief, JobRecord, JobState, Ledger, VideoBrief, VideoRecord, VideoState, pending_videos
from ..net.retry import RetryPolicy
from ..sequences.state import manifest_lines
from . import lastframe
from .context import RunContext, key_refused
from .fetch import FetchError, IncompleteDownload, UrlExpired, fetch_file, hash_file

#: The pause before trying a cut download again (its ``.part`` is resumed with ``Range``): short, since the
#: bytes already here are kept. Full jitter (`RetryPolicy`), as the client's own retries.
RESUME_RETRY = RetryPolicy(base=0.1, cap=2.0)
#: The pause before trying again after the API refused to prepare a download (the client has already retried
#: what it could): a little longer.
PREPARE_RETRY = RetryPolicy(base=0.2, cap=5.0)


class Downloads:
    """Fetches a run's videos (and their last frames) into the output folder, recorded in the ledger."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.output = ctx.output
        self.slots = asyncio.Semaphore(ctx.options.download_concurrency)
        self._prepare_estimate = ctx.options.prepare_first_estimate  # learned as downloads complete
        self._manifest = manifest.Appender(ctx.output)
        #: The files already checked, by their stat fingerprint: a rerun does not read them again (`io.checked`).
        self.checked = CheckedFiles(ctx.output, rehash=ctx.options.rehash)
        #: The current version of each job that has had more than one (set by `versions.place_version_files`).
        self.versions: dict[str, int] = {}
        #: Per job row: the images its success listed (see `lastframe`).
        self.last_frame_urls: dict[int, list[str]] = {}

    async def download_all(self, job: PlannedJob, row: int, just_succeeded: tuple[str, ...] = (),
                           earlier: int | None = None, record: JobRecord | None = None) -> None:
        """Download the job's videos not yet on disk. ``just_succeeded``: the video ids of a success just queued
        for the ledger, whose rows the ledger's readers may not see yet. ``earlier``: the version number of a version
        that is no longer current (its videos go to ``<job-id>/v<k>/``), None for the current one. ``record``: the
        job's record as the run's start read it, when nothing has happened to the job since (not read again: a
        rerun of 20,000 done jobs would read each one)."""
        self.ctx.files_changed = True  # videos and last frames are fetched, files set aside: the views are made again
        if record is None or just_succeeded:
            record = self.ctx.ledger.record(row)
        if just_succeeded:
            record = record._replace(state=JobState.SUCCEEDED,
                                     videos=pending_videos(row, just_succeeded, time.time()))
        videos = [v for v in record.videos if v.state != VideoState.DOWNLOADED]
        await asyncio.gather(*(self._download(job, record, v, earlier) for v in videos))
        if lastframe.asks_for_last_frame(job.body) and not self.ctx.stopping:
            await self._fetch_last_frames(job, row)

    async def _fetch_last_frames(self, job: PlannedJob, row: int) -> None:
        """Save the job's last frames beside its downloaded videos (see `lastframe`); a failure is a warning."""
        ctx = self.ctx
        record = ctx.ledger.record(row)
        missing = [(i, v.path) for i, v in enumerate(record.videos)
                   if v.state == VideoState.DOWNLOADED and v.path and not last_frame_saved(self.output, v.path)]
        if not missing or not record.remote_id:
            return
        urls = self.last_frame_urls.pop(row, None)
        try:
            if urls is None:  # a later run, or a video fetched again: the job's result lists them afresh
                urls = lastframe.image_urls(await ctx.client.get_job(record.remote_id))
            for index, path in missing:
                if index < len(urls):
                    async with self.slots:
                        await fetch_file(ctx.client.session, urls[index], self.output / last_frame_path(path),
                                         read_timeout=ctx.options.read_timeout, root=self.output)
            if not urls:
                ctx.progress.note(f"warning: {job.id}: asked for its last frame, but the server returned none")
        except AuthError as exc:
            key_refused(exc)
        except (ApiError, FetchError, OSError) as exc:
            ctx.progress.note(f"warning: {job.id}: last frame not saved ({exc}); the next run tries again")

    async def _download(self, job: PlannedJob, record: JobRecord, video: VideoRecord,
                        earlier: int | None = None) -> None:
        """Prepare, fetch and record one video (of earlier version ``earlier``, if given); gives up (video
        failed) after bounded attempts."""
        ctx = self.ctx
        ledger, options = ctx.ledger, ctx.options
        # Paths come from the spec's validated job id and our own counters, never from server ids.
        rel = video_path(job.id, video.n) if earlier is None else earlier_video_path(job.id, earlier, video.n)
        dest = self.output / rel
        state = video.state
        url = video.url if state == VideoState.READY else None
        if ctx.stopping:
            return
        part = part_path(dest)
        try:
            # A job folder that is a link (or a file) is refused: writing through it could land anywhere.
            folder_existed = owned_dirs(self.output, dest.parent)
            if state == VideoState.PENDING or (part.exists() and len(ledger.versions(job.id)) > 1):
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
        for attempt in range(options.download_attempts):
            try:
                if url is None:
                    # Bookkeeping that nothing waits on (a crash only means asking create-download again):
                    # it rides with the next group commit instead of costing one of its own.
                    if state != VideoState.PREPARING:
                        await ledger.mark_video_preparing(record.row, video.n, durable=False)
                        state = VideoState.PREPARING
                    url = await self._prepare(video)
                    if url is None:
                        last_error = "the server could not prepare the download"
                        break
                    await ledger.mark_video_ready(record.row, video.n, url, durable=False)
                    state = VideoState.READY
                # The slot covers only moving bytes: the server's preparation and our retry pauses hold none.
                async with self.slots:
                    if ctx.stopping:
                        return
                    result = await fetch_file(ctx.client.session, url, dest, read_timeout=options.read_timeout,
                                              root=self.output)
                # Its fingerprint as soon as it is in place, before anything else can touch it.
                placed = _lstat(dest)
            except UrlExpired:
                url, last_error = None, "the file URL expired"
                continue
            except IncompleteDownload as exc:
                last_error = str(exc)  # the .part is kept: the next attempt resumes it with Range
                await asyncio.sleep(RESUME_RETRY.delay(attempt))
                continue
            except FetchError as exc:
                url, last_error = None, str(exc)
                continue
            except AuthError as exc:
                key_refused(exc)
            except ApiError as exc:
                last_error = str(exc)
                await asyncio.sleep(PREPARE_RETRY.delay(attempt))
                continue
            except OSError as exc:  # our disk, not the network (fetch_file wraps those): retrying will not help
                last_error = f"cannot write {rel}: {describe(exc)}"
                break
            await ledger.mark_video_downloaded(record.row, video.n, rel, result.bytes, result.sha256)
            if placed is not None and stat.S_ISREG(placed.st_mode) and placed.st_size == result.bytes:
                # Recorded as checked, with the sha256 computed as it streamed: the next run need not read it.
                self.checked.downloaded(rel, placed, result.sha256)
            lastframe.discard_stale(dest)
            if folder_existed:  # a new folder has nothing set aside in it: no listing on the common path
                _drop_copies_set_aside(dest, result.bytes, result.sha256)
            self._manifest.append({
                "job": job.id, "model": job.model, "jobId": record.remote_id, "videoId": video.video_id,
                "path": rel, "bytes": result.bytes, "sha256": result.sha256,
                "version": self.versions.get(job.id, 1) if earlier is None else earlier,
                "current": earlier is None,
            })
            ctx.progress.event("downloaded", job.id, rel)
            return
        await self._video_failed(job, record, video, last_error)

    async def _video_failed(self, job: PlannedJob, record: JobRecord, video: VideoRecord, error: str) -> None:
        await self.ctx.ledger.mark_video_failed(record.row, video.n, error)
        self.ctx.progress.event("video_failed", job.id, error)

    async def _prepare(self, video: VideoRecord) -> str | None:
        """create-download, then poll /download until ready; returns the file URL (None: gave up)."""
        client = self.ctx.client
        video_id = video.video_id or ""
        for _ in range(self.ctx.options.prepare_attempts):
            await client.create_download(video_id)
            started = time.monotonic()
            # The first look comes when the file is likely ready, so a typical download costs one poll.
            await asyncio.sleep(self._prepare_estimate)
            first_look = True
            while True:
                try:
                    state = await client.get_download(video_id)
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
        trusted or lost. One that an earlier version recorded is a paid video that `versions.place_version_files` could
        not move out of the way: it is kept, and this download fails (raises `FileExistsError`)."""
        if not dest.exists():
            return
        rel = dest.relative_to(self.output).as_posix()
        ours = any(v.path == rel and v.state == VideoState.DOWNLOADED
                   for r in self.ctx.ledger.versions(job.id) if not r.current for v in r.videos)
        if ours:
            raise FileExistsError(errno.EEXIST, "an earlier version's video is there and could not be moved to "
                                  "its v<k>/ folder; move it yourself and rerun", str(dest))
        aside = dest.with_name(f"{dest.name}{ASIDE_MARK}{time.time_ns()}")
        dest.rename(aside)
        self.ctx.progress.note(f"warning: moved a file the ledger does not vouch for aside: {aside}")

    def done(self, job: PlannedJob, record: JobRecord | JobBrief) -> bool:
        """Whether a job that succeeded before this run has nothing left for `download_all` to do: every video
        downloaded (and found intact by the caller) and, if it asked for them, every last frame saved. Such a
        job needs no flow: its manifest lines come from the ledger when the run ends (`write_manifest`)."""
        if any(v.state != VideoState.DOWNLOADED for v in record.videos):
            return False
        return not lastframe.asks_for_last_frame(job.body) or not record.remote_id or all(
            not v.path or last_frame_saved(self.output, v.path) for v in record.videos)

    def job_folders(self) -> frozenset[str]:
        """The names of the output folder's entries that are folders (not links to one), read in one listing: a
        rerun checks the folder of each file it keeps against it instead of an ``lstat`` per folder (a run's start
        reads it once, before anything is downloaded). A folder not in it is checked on its own (`owned_dirs`)."""
        try:
            with os.scandir(self.output) as entries:
                return frozenset(e.name for e in entries if e.is_dir(follow_symlinks=False))
        except OSError:
            return frozenset()

    def intact(self, videos: Sequence[VideoBrief | VideoRecord], folders: frozenset[str] = frozenset()
               ) -> set[int]:
        """The positions in ``videos`` (downloaded ones) of the files that are there with the recorded size and
        hash. A file is trusted only so: its content is hashed, unless the record of checked files (`io.checked`)
        holds it with the same stat fingerprint and the ledger's sha256, which says it has not changed since it
        was last hashed. ``folders``: `job_folders`, read before."""
        output = os.fspath(self.output)
        # Strings, not pathlib nor os.path.join: a rerun asks this of every file it keeps (20,000 jobs, 20,000
        # paths), and a recorded path is relative, with "/" (`layout`).
        prefix = os.path.join(output, "")
        found: list[tuple[int, str, os.stat_result, str | None]] = []
        for i, video in enumerate(videos):
            rel = video.path
            if not rel:
                continue
            path = prefix + rel
            try:
                # A link in the file's place, or in place of a folder on its way, is not the file we wrote.
                slash = rel.rfind("/")
                if (rel[:slash] if slash >= 0 else "") not in folders:
                    owned_dirs(output, os.path.dirname(path))
                st = os.lstat(path)
            except OSError:  # LinkRefused included
                continue
            if stat.S_ISREG(st.st_mode) and st.st_size == video.bytes:
                found.append((i, rel, st, video.sha256))
        if not self.ctx.options.verify_files:
            return {i for i, *_ in found}
        vouched = self.checked.vouched([(rel, st, sha256) for _, rel, st, sha256 in found])
        kept = set()
        for i, rel, st, sha256 in found:
            if rel in vouched:
                kept.add(i)
                continue
            try:
                intact = hash_file(os.path.join(output, rel)).hexdigest() == sha256
            except OSError:  # unreadable: fetched again, and the file there is set aside, not trusted
                continue
            if intact:
                kept.add(i)
                if sha256:
                    self.checked.hashed(rel, st, sha256)  # the lstat before the read: see io.checked
        return kept

    def close(self) -> str | None:
        """Close the appended manifest and the record of checked files, and rewrite ``manifest.jsonl`` from
        the ledger (unless this run changed nothing it is made from: `write_manifest`); returns why it could not be
        written (the run still reports)."""
        self._manifest.close()
        self.checked.close()
        try:
            write_manifest(self.output, self.ctx.ledger, self.ctx.sequences, reuse=not self.ctx.files_changed)
        except OSError as exc:
            return describe(exc)
        return None


def write_manifest(output: Path, ledger: Ledger, sequences: dict[str, tuple[str, ...]], *, reuse: bool = False) -> bool:
    """Rewrite ``manifest.jsonl``: a line per downloaded video from the ledger (with its last frame), then a line
    per sequence written. With ``reuse`` (the run fetched no file), a manifest written from the same ledger
    revision and sequences (`manifest.stamp`) and untouched since is left as it is, without being made. Returns
    whether it was made; raises `OSError` when it cannot be written."""
    return manifest.rewrite_view(output, manifest.stamp(ledger, output, sequences), lambda: itertools.chain(
        lastframe.annotate(output, ledger.iter_manifest_entries()), manifest_lines(output, sequences)), reuse=reuse)


def _lstat(path: Path) -> os.stat_result | None:
    """``os.lstat``, None when it fails (the record of checked files is advisory: it never fails a download)."""
    try:
        return os.lstat(path)
    except OSError:
        return None


def _drop_copies_set_aside(dest: Path, size: int, sha256: str) -> None:
    """Delete the files set aside beside ``dest`` that hold exactly what was just downloaded to it: each was
    this very video, renamed into place by a run that crashed before recording it. This run or an earlier one
    set it aside (a run killed after setting a file aside leaves it for the next to judge). Anything else set
    aside is kept: it is not ours to delete."""
    with contextlib.suppress(OSError):  # tidying only: a file that cannot be checked is kept
        for aside in dest.parent.glob(glob.escape(dest.name) + ASIDE_MARK + "*"):
            if aside.lstat().st_size == size and hash_file(aside).hexdigest() == sha256:
                aside.unlink()
