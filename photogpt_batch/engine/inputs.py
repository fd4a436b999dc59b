"""Other jobs' outputs as a job's inputs, resolved just before its POST: each ``output:`` reference of the body
becomes the file it names, added to the run's `Stager` like a local file (``asset:sha256:``), which then stages
and signs it with the rest.

The file is the upstream job's current version's first video (downloaded: the ledger says where and what its
sha256 was), or a frame of it: the last frame the model returned (``returnLastFrame``, `engine.lastframe`) for
``frame: last`` when one is saved, else one extracted with PyAV (`frames`) into the ledger's folder
(`layout.frame_path`, reused on a rerun). When the upstream is not done, or the frame does not exist, nothing is
sent for the job (`InputNotReady`): it stays planned, for a later run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..assets.body import body_outputs, with_refs
from ..assets.hashcache import file_sha256
from ..assets.kinds import LocalAsset, sniff
from ..assets.output_ref import OutputRef
from ..frames import FrameUnavailable, extract_frame
from ..layout import frame_path, last_frame_path, last_frame_saved
from ..ledger import JobState, VideoRecord
from .context import RunContext


class InputNotReady(Exception):
    """An output a job takes cannot be given now; the message says why. Nothing was sent for the job."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


async def with_inputs(ctx: RunContext, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with each ``output:`` reference replaced by the ``asset:`` reference of the file it names, each
    file added to ``ctx.stager``; ``body`` itself when it takes no output. `InputNotReady` otherwise."""
    refs = list(body_outputs(body))
    if not refs:
        return body
    if ctx.stager is None:  # the runner gives a stager to every campaign with `from:`: this is a safety net
        raise InputNotReady("no object store to stage other jobs' outputs on")
    replaced: dict[str, str] = {}
    for ref in refs:
        if ref.text() in replaced:
            continue
        video = _upstream_video(ctx, ref)
        asset = await asyncio.to_thread(_input_file, ctx.output, ref, video)
        ctx.stager.assets[asset.sha256] = asset
        replaced[ref.text()] = asset.ref
    return with_refs(body, replaced)


def _upstream_video(ctx: RunContext, ref: OutputRef) -> VideoRecord:
    """The first video of ``ref``'s job, which must be the version the reference names, done and downloaded."""
    record = ctx.ledger.job(ref.job)
    if record is None:
        raise InputNotReady(f"it takes the output of {ref.job}, which has not been run yet")
    if not record.content_hash.startswith(ref.upstream):
        raise InputNotReady(f"it takes the output of {ref.job}, whose version in this folder is not the spec's: "
                            f"run {ref.job} first")
    if record.state is JobState.FAILED:
        raise InputNotReady(f"it takes the output of {ref.job}, which failed: {record.error or 'no reason given'}")
    if not record.all_downloaded or not record.videos:
        state = "generated, its video not downloaded yet" if record.state is JobState.SUCCEEDED else record.state
        raise InputNotReady(f"it takes the output of {ref.job}, which is not done yet ({state})")
    return record.videos[0]


def _input_file(output: Path, ref: OutputRef, video: VideoRecord) -> LocalAsset:
    """The file ``ref`` names, as a `LocalAsset`: the video, or its frame (extracted when not there yet)."""
    assert video.path is not None  # downloaded
    path = output / video.path
    try:
        sha = file_sha256(path)
    except OSError as exc:
        raise InputNotReady(f"{video.path}, the output of {ref.job} it takes, cannot be read: "
                            f"{exc.strerror or exc}") from None
    if video.sha256 is not None and sha != video.sha256:
        raise InputNotReady(f"{video.path}, the output of {ref.job} it takes, was changed since it was downloaded")
    if ref.frame is None:
        return _asset(path, "video", sha)
    if ref.frame == "last" and last_frame_saved(output, video.path):
        returned = output / last_frame_path(video.path)  # the model's own last frame, when it gave one
        found = _asset_or_none(returned, "image")
        if found is not None:
            return found
    dest = frame_path(output, sha, ref.frame)
    if not dest.is_file():
        try:
            extract_frame(path, ref.frame, dest)
        except FrameUnavailable as exc:
            raise InputNotReady(f"{ref.job}'s video {video.path}: {exc}") from None
    return _asset(dest, "image")


def _asset_or_none(path: Path, kind: str) -> LocalAsset | None:
    try:
        return _asset(path, kind)
    except (OSError, InputNotReady):
        return None


def _asset(path: Path, kind: str, sha: str | None = None) -> LocalAsset:
    """``path`` as a `LocalAsset` of ``kind`` (by its content, as a spec's ``file:``)."""
    with path.open("rb") as fh:
        found = sniff(fh.read(16))
    if found is None or found[0] != kind:
        raise InputNotReady(f"{path.name} is not an {kind} the API takes")
    return LocalAsset(path, sha or file_sha256(path), path.stat().st_size, *found)
