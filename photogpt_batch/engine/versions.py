"""Earlier versions of a job keep their files: a paid video is never overwritten.

A job's *version* is its content: the first is version 1, and each change of the spec that changes the
request makes the next (going back to an earlier content makes that version current again). The current
version's videos are ``<job-id>/<n>.mp4``, where a reader expects them; each earlier version's are
``<job-id>/v<k>/<n>.mp4`` (`layout` says so). `place_version_files` moves files to where their version says before
a run downloads anything, and records each move in the ledger, so the new version's download never lands on a paid file.

An earlier version that was sent is still followed to its end (`ledger.versions.unfinished_earlier`): a run
interrupted after its POST, then a change of the spec, must not leave a paid job unpolled and its videos on the
server. So is every sent version of a job the run does not hold (`ledger.versions.unfinished_outside`: removed
from the spec, or left out by ``--only``), its current version into ``<job-id>/<n>.mp4`` and its earlier ones
into ``<job-id>/v<k>/``.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable
from pathlib import Path

from ..io.durable import describe, fsync_dir, owned_dirs
from ..layout import earlier_video_path, video_path
from ..ledger import JobRecord, Ledger, MoveVideo, VideoState, VideoTransition
from ..ledger.versions import numbered
from . import lastframe


async def place_version_files(ledger: Ledger, output: Path,
                              current: Iterable[JobRecord]) -> tuple[dict[str, int], list[str]]:
    """Move the files of ``current``'s jobs where their versions say (earlier versions out of the way first,
    then a current version that was an earlier one back in place), recording each move.

    Returns the current version number of each job that has more than one, and warnings for files that could
    not be moved (such a file stays where it is and the new version's download there fails, not overwrites)."""
    by_id = {r.job_id: r for r in current}
    earlier = [r for r in ledger.replaced() if r.job_id in by_id]
    if not earlier:
        return {}, []
    changed = {job_id: by_id[job_id] for job_id in {r.job_id for r in earlier}}
    numbers = numbered([*earlier, *changed.values()])
    warnings: list[str] = []
    # A path that a current version recorded as its own download and an earlier one still names: a release
    # before versions were kept replaced the earlier file there. It is gone; the ledger says so (pending:
    # fetched again, free, should the spec go back to that content).
    taken = {v.path for r in changed.values() for v in r.videos if v.state == VideoState.DOWNLOADED}
    lost = [VideoTransition(r.row, v.n, VideoState.PENDING) for r in earlier for v in r.videos
            if v.state == VideoState.DOWNLOADED and v.path in taken]
    if lost:
        await ledger.write(*lost)
        earlier = [r for r in ledger.replaced() if r.job_id in by_id]
    moves = [(r, v, earlier_video_path(r.job_id, numbers[r.row], v.n)) for r in earlier for v in r.videos]
    moves += [(r, v, video_path(r.job_id, v.n)) for r in changed.values() for v in r.videos]
    for record, video, wanted in moves:
        if video.state != VideoState.DOWNLOADED or not video.path or video.path == wanted:
            continue
        try:
            if _move(output, video.path, wanted, video.bytes):
                await ledger.write(MoveVideo(record.row, video.n, wanted))
        except OSError as exc:
            warnings.append(f"warning: cannot move {video.path} to {wanted} ({describe(exc)}); it stays where "
                            "it is")
    return {job_id: numbers[r.row] for job_id, r in changed.items()}, warnings


def _move(output: Path, src_rel: str, dst_rel: str, size: int | None) -> bool:
    """Move a recorded file inside ``output``; returns whether the ledger should now record ``dst_rel``.

    A file already at ``dst_rel`` with the recorded size and none at ``src_rel`` is an earlier move that a
    crash kept from being recorded. A missing file is left to the run (it is fetched again if current)."""
    src, dst = output / src_rel, output / dst_rel
    # Every folder on both sides (the job folder, a v<k>/): one that is a link to elsewhere is not ours, and
    # nothing is moved into, out of or recorded through it.
    owned_dirs(output, src.parent)
    owned_dirs(output, dst.parent)
    src_there, dst_there = os.path.lexists(src), os.path.lexists(dst)
    if dst_there:
        if not src_there and dst.lstat().st_size == size:
            return True
        raise FileExistsError(errno.EEXIST, "another file is in the way", str(dst))
    if not src_there:
        return False
    if not owned_dirs(output, dst.parent):
        owned_dirs(output, dst.parent, create=True)
        fsync_dir(dst.parent.parent)
    os.rename(src, dst)
    lastframe.move_along(src, dst)
    fsync_dir(dst.parent)
    fsync_dir(src.parent)
    if src.parent != output / src_rel.split("/")[0]:  # a v<k>/ folder left empty by a version put back
        with contextlib.suppress(OSError):
            src.parent.rmdir()
    return True
