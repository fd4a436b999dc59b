"""How the stores read records: the columns they select and the records made of the rows, in one place.

A full read (`Ledger.jobs`) holds a record per job of the campaign (20,000 of them in a large one), so what a
record keeps is chosen here: a downloaded video's signed URL is not read back (it has expired, nothing downloads
from it again, and it is the largest field, ~200 bytes a video), and the jobs of one model share its name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .records import JobBrief, JobRecord, VideoBrief, VideoRecord
from .states import JOB_STATES, VIDEO_STATES

#: The columns of a `JobRecord` (without its videos), in its fields' order.
JOB_COLUMNS = (
    "jobs.id, jobs.job_id, jobs.model, jobs.content_hash, jobs.state, jobs.current, jobs.remote_id, jobs.error,"
    " jobs.err, jobs.credits, jobs.attempts, jobs.submitted_at, jobs.created_at, jobs.updated_at"
)
#: The columns of a `VideoRecord`, in its fields' order (``v``: the videos table).
VIDEO_COLUMNS = ("v.job, v.n, v.video_id, v.state, CASE WHEN v.state = 'downloaded' THEN NULL ELSE v.url END,"
                 " v.path, v.bytes, v.sha256, v.error, v.updated_at")
#: Rows read at a time where a read goes through every job (`Ledger.iter_manifest_entries`).
PAGE = 2000


def video_record(row: Sequence[Any]) -> VideoRecord:
    """The `VideoRecord` of a row of `VIDEO_COLUMNS`."""
    return VideoRecord(row[0], row[1], row[2], VIDEO_STATES[row[3]], *row[4:])


def job_record(row: Sequence[Any], videos: Iterable[VideoRecord], models: dict[str, str]) -> JobRecord:
    """The `JobRecord` of a row of `JOB_COLUMNS` (extra columns after them are ignored) with its ``videos``;
    ``models`` is shared by the records of one read: one string per model, not one per record."""
    # mypy cannot count the fields a row's slices fill, so it thinks 'videos' may be given twice
    return JobRecord(row[0], row[1], models.setdefault(row[2], row[2]), row[3], JOB_STATES[row[4]],  # type: ignore[misc]
                     bool(row[5]), *row[6:14], videos=tuple(videos))


#: The columns of a `JobBrief` and of its videos, one row per video (a job without videos: one row, the video's
#: columns NULL), for `PagedReads.iter_briefs`.
BRIEF_COLUMNS = ("jobs.id, jobs.job_id, jobs.state, jobs.content_hash, jobs.credits, jobs.remote_id, jobs.error,"
                 " v.n, v.state, v.path, v.bytes, v.sha256, v.error")


def job_briefs(rows: Sequence[Sequence[Any]]) -> list[JobBrief]:
    """The `JobBrief`s of rows of `BRIEF_COLUMNS` ordered by job row, then video number."""
    briefs: list[JobBrief] = []
    i, end = 0, len(rows)
    while i < end:
        r = rows[i]
        row = r[0]
        videos: list[VideoBrief] = []
        while i < end and rows[i][0] == row:
            v = rows[i]
            if v[7] is not None:
                videos.append(VideoBrief(v[7], VIDEO_STATES[v[8]], v[9], v[10], v[11], v[12]))
            i += 1
        briefs.append(JobBrief(row, r[1], JOB_STATES[r[2]], r[3], r[4], r[5], r[6], tuple(videos)))
    return briefs
