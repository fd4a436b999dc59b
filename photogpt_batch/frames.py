"""One frame of a video as a PNG, with PyAV: the first, the last, or the one showing at a time (``2.5s``).

A job that takes a frame of another job's video (``referenceImages: [{from: shot-1, frame: last}]``) is sent
this file (`engine.inputs`). Decoding is sequential from the start (the clips are seconds long): the frame at a
time is the last one that starts at or before it, and a time at or past the video's end is refused
(`FrameUnavailable`) rather than quietly taken as the last frame.
"""

from __future__ import annotations

import os
from pathlib import Path

from .assets.output_ref import FRAME_WORDS


class FrameUnavailable(Exception):
    """The video has no such frame (a time past its end), or cannot be read: nothing was written."""


def extract_frame(video: Path, frame: str, dest: Path) -> None:
    """Write frame ``frame`` of ``video`` to ``dest`` as a PNG (through a temporary file: a file at ``dest`` is
    complete). `FrameUnavailable` when there is no such frame."""
    import av  # PyAV (and FFmpeg's libraries, ~16 MB) only when a frame is taken, not in every run

    seconds = None if frame in FRAME_WORDS else float(frame.removesuffix("s"))
    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                raise FrameUnavailable(f"{video.name} has no video stream")
            stream = container.streams.video[0]
            duration = container.duration / av.time_base if container.duration else None
            if seconds is not None and duration is not None and seconds >= duration:
                raise FrameUnavailable(f"frame {frame} is past the end of the video ({duration:g} s long); "
                                       "take `frame: last` for its end")
            chosen = None
            end = 0.0
            for decoded in container.decode(stream):
                at = float(decoded.time or 0.0)
                if seconds is not None and at > seconds:
                    break
                chosen = decoded
                step = float(decoded.duration * decoded.time_base) if decoded.duration and decoded.time_base else 0.0
                end = at + step
                if frame == "first":
                    break
            else:
                if seconds is not None and duration is None and seconds >= end:
                    raise FrameUnavailable(f"frame {frame} is past the end of the video ({end:g} s long); "
                                           "take `frame: last` for its end")
            if chosen is None:
                raise FrameUnavailable(f"{video.name} has no frames")
            image = chosen.to_image()  # type: ignore[no-untyped-call]  # PyAV leaves it untyped
    except av.FFmpegError as exc:
        raise FrameUnavailable(f"{video.name} cannot be read as a video: {exc}") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.{id(image)}.tmp")  # two jobs may want the same frame at once
    try:
        image.save(tmp, format="PNG")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
