"""Last frames: the images a job returns when it asks for ``returnLastFrame``, saved beside its videos.

The n-th image of a job is saved as ``<n>.last.png`` beside the job's n-th video (``hero/1.mp4`` →
``hero/1.last.png``, as `layout.last_frame_path` says); the manifest names it in that video's entry
(``lastFrame``) and the review page shows it. The file on disk is its own record (no ledger rows): it is
written like a video (``.part``, fsync, rename), so one that exists is complete; one that belonged to an earlier
download of its video is removed when the video is downloaded again, so a last frame always belongs to the
video beside it. A last frame that cannot be fetched is a warning, never a failed run: the videos are what was
paid for.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..layout import last_frame_path, last_frame_saved


def asks_for_last_frame(body: dict[str, Any]) -> bool:
    """Whether a request body asks for its last frames (``returnLastFrame: true`` in its options group)."""
    groups = body.get("options")
    return isinstance(groups, dict) and any(
        isinstance(group, dict) and group.get("returnLastFrame") is True for group in groups.values())


def image_urls(result: dict[str, Any]) -> list[str]:
    """The http(s) URLs of the images in a job's result (``images: [{id, url}]``), in order; malformed
    entries are skipped (a server's fault is not worth failing over)."""
    images = result.get("images")
    if not isinstance(images, list):
        return []
    return [str(i["url"]) for i in images
            if isinstance(i, dict) and isinstance(i.get("url"), str) and i["url"].startswith(("http://", "https://"))]


def discard_stale(video: Path) -> None:
    """Remove the last frame beside ``video``, which was just downloaded (again): the old one, if any, is
    another download's."""
    with contextlib.suppress(OSError):
        video.with_name(last_frame_path(video.name)).unlink()


def move_along(video_src: Path, video_dst: Path) -> None:
    """The video at ``video_src`` was moved to ``video_dst`` (an earlier version's files out of the way, or back):
    its last frame, if any, goes with it. A last frame that cannot move stays; the next download of a video in
    its place removes it."""
    with contextlib.suppress(OSError):
        os.rename(video_src.with_name(last_frame_path(video_src.name)),
                  video_dst.with_name(last_frame_path(video_dst.name)))


def annotate(output: Path, entries: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Manifest entries with ``lastFrame`` (relative path) added to those whose video has one saved (one at a
    time, as ``entries`` come)."""
    for entry in entries:
        path = entry.get("path")
        if isinstance(path, str) and last_frame_saved(output, path):
            entry = {**entry, "lastFrame": last_frame_path(path)}
        yield entry
