"""The output folder's layout: the one place that says where each file the tool writes lives, and so which names
no job id may take.

    <output>/
        manifest.jsonl            MANIFEST, rewritten through manifest.jsonl.tmp
        index.html                PAGE (the review page), rewritten through index.html.tmp
        .photogpt-batch/          LEDGER_DIR: the ledger and what goes with it
            ledger.sqlite3        LEDGER_FILE (SQLite adds its -wal and -shm beside it)
            lock                  LOCK_FILE, held by the runner writing into the folder
            campaign              CLAIM_FILE, the campaign a shared-ledger run claimed the folder for (via .tmp)
            sandbox-jobs.jsonl    SANDBOX_JOBS_FILE, the jobs of ``run --sandbox``'s in-process sandbox
            checked.sqlite3       CHECKED_FILE, the files already checked, local and disposable (``io.checked``)
            views.json            VIEWS_FILE, what the manifest and the review page were written from (via .tmp)
            frames/               FRAMES_DIR: frames taken from videos to feed other jobs (``from:``)
                <sha256>.<frame>.png  frame ``first``, ``last`` or ``2.5s`` of the video with that sha256
        sequences/                SEQUENCES_DIR: the spec's sequences, each its jobs' videos joined
            <name>.mp4            a sequence (written through <name>.mp4.tmp)
            <name>.json           what it was built from (each clip's sha256), through <name>.json.tmp
        <job-id>/                 one folder per job, named by its id
            <n>.mp4               video n of the job's current version
            <n>.last.png          its last frame, when the job asked for one
            <n>.mp4.part          a download until it is complete (a last frame's too)
            <n>.mp4.untrusted-<ns>  a file found in a video's place that the ledger does not vouch for
            v<k>/<n>.mp4          video n of earlier version k (and its last frame beside it)

Paths of videos are relative and POSIX (``hero/v2/1.mp4``): that is how the ledger and the manifest record them.

Pure: pathlib and constants only (no asyncio, sqlite3 or aiohttp), so the spec's id check imports it and
``validate`` stays light.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: The manifest: one JSON line per downloaded video.
MANIFEST = "manifest.jsonl"
#: The review page.
PAGE = "index.html"
#: What a file rewritten whole (the manifest, the page, the folder's claim) is written to before its rename.
TMP_SUFFIX = ".tmp"
MANIFEST_TMP = MANIFEST + TMP_SUFFIX
PAGE_TMP = PAGE + TMP_SUFFIX
#: The tool's own folder in the output folder (the ledger's folder): the leading '.' keeps it out of listings.
LEDGER_DIR = ".photogpt-batch"
LEDGER_FILE = "ledger.sqlite3"
LOCK_FILE = "lock"
CLAIM_FILE = "campaign"
SANDBOX_JOBS_FILE = "sandbox-jobs.jsonl"
#: The record of the downloaded files already checked, by their stat fingerprint (`io.checked`): local to this
#: machine and folder (never in the ledger), and disposable (SQLite adds its -wal and -shm beside it).
CHECKED_FILE = "checked.sqlite3"
#: What each view (the manifest, the review page) was last written from, and the file it was written to.
VIEWS_FILE = "views.json"
#: The frames extracted from the jobs' videos for the jobs that take them as inputs: by the video's content and the
#: frame, so a rerun reuses one, and a video downloaded again with other content gets its own.
FRAMES_DIR = "frames"

#: Everything the tool writes at the top of the output folder, next to the job folders ``<output>/<id>/``: a job
#: whose id names one of them would be paid for and its videos never saved (or overwritten by the tool's file).
#: A job's own ``v<k>/`` folders live inside its folder, where no other job's goes, so ``v1`` is a fine id.
#: The folder of the spec's sequences (``sequences/<name>.mp4``).
SEQUENCES_DIR = "sequences"
TOP_LEVEL_NAMES = (MANIFEST, MANIFEST_TMP, PAGE, PAGE_TMP, LEDGER_DIR, SEQUENCES_DIR)

VIDEO_SUFFIX = ".mp4"
LAST_FRAME_SUFFIX = ".last.png"
#: What a download is written to until it is complete: ``<dest>.part``.
PART_SUFFIX = ".part"
#: What a file moved aside is called: ``<n>.mp4.untrusted-<ns>``.
ASIDE_MARK = ".untrusted-"


def video_path(job_id: str, n: int) -> str:
    """Where the current version's video ``n`` lives, relative to the output folder."""
    return f"{job_id}/{n}{VIDEO_SUFFIX}"


def version_dir(job_id: str, version: int) -> str:
    """The folder of earlier version ``version`` of a job, relative to the output folder."""
    return f"{job_id}/v{version}"


def earlier_video_path(job_id: str, version: int, n: int) -> str:
    """Where video ``n`` of earlier version ``version`` lives, relative to the output folder."""
    return f"{version_dir(job_id, version)}/{n}{VIDEO_SUFFIX}"


def last_frame_path(video: str) -> str:
    """Where the last frame of the video at ``video`` (a relative path or a file name) is kept: beside it
    (``hero/1.mp4`` → ``hero/1.last.png``)."""
    stem = video[: -len(VIDEO_SUFFIX)] if video.endswith(VIDEO_SUFFIX) else video
    return stem + LAST_FRAME_SUFFIX


def last_frame_saved(output: Path, video: str) -> bool:
    """Whether the last frame of the video at ``video`` (relative) is saved: a regular file, not a link."""
    try:
        # os.path, not pathlib: the manifest and the review page ask this of every video of every run.
        return stat.S_ISREG(os.lstat(os.path.join(output, last_frame_path(video))).st_mode)
    except OSError:
        return False


def part_path(dest: Path) -> Path:
    """Where the download of ``dest`` is kept until complete: ``<dest>.part``."""
    return dest.with_name(dest.name + PART_SUFFIX)


def manifest_path(output: Path) -> Path:
    """The manifest of an output folder."""
    return Path(output) / MANIFEST


def page_path(output: Path) -> Path:
    """The review page of an output folder."""
    return Path(output) / PAGE


def ledger_dir(output: Path) -> Path:
    """The tool's own folder in an output folder (the SQLite ledger, the lock, the claim, the sandbox's jobs)."""
    return Path(output) / LEDGER_DIR


def ledger_path(output: Path) -> Path:
    """The SQLite ledger file of an output folder."""
    return ledger_dir(output) / LEDGER_FILE


def lock_path(output: Path) -> Path:
    """The lock file of an output folder."""
    return ledger_dir(output) / LOCK_FILE


def claim_path(output: Path) -> Path:
    """The file recording which campaign a shared-ledger run claimed an output folder for."""
    return ledger_dir(output) / CLAIM_FILE


def sandbox_jobs_path(output: Path) -> Path:
    """Where ``run --sandbox`` keeps its sandbox's jobs, so an interrupted rehearsal resumes."""
    return ledger_dir(output) / SANDBOX_JOBS_FILE


def checked_path(output: Path) -> Path:
    """The record of an output folder's files already checked (see `io.checked`)."""
    return ledger_dir(output) / CHECKED_FILE


def views_path(output: Path) -> Path:
    """Where the fingerprints of the views (the manifest, the review page) are recorded (`io.stamps`)."""
    return ledger_dir(output) / VIEWS_FILE


def frame_path(output: Path, video_sha256: str, frame: str) -> Path:
    """Where frame ``frame`` (``first``, ``last``, ``2.5s``) of the video whose content is ``video_sha256`` is kept."""
    return ledger_dir(output) / FRAMES_DIR / f"{video_sha256}.{frame}.png"


def sequence_path(name: str) -> str:
    """Where sequence ``name`` is written, relative to the output folder."""
    return f"{SEQUENCES_DIR}/{name}{VIDEO_SUFFIX}"


def sequence_record_path(name: str) -> str:
    """Where what sequence ``name`` was built from is recorded, relative to the output folder."""
    return f"{SEQUENCES_DIR}/{name}.json"


def tmp_path(path: Path) -> Path:
    """The temporary file that ``path`` is written to before it is renamed into place."""
    return path.with_name(path.name + TMP_SUFFIX)
