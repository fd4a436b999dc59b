"""Join clips into one MP4 with PyAV: a remux (packets copied, their timestamps moved on by the clips before)
when every clip's video stream matches (codec, size, pixel format, time base), else a re-encode to H.264 at
the first clip's size and frame rate.

Clips of different ratios are refused (`JoinRefused`), not letterboxed: a sequence of mixed shapes is almost
always a mistake in the spec, and black bars baked into a final would be a surprise to find later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import av

#: Two sizes have the same ratio when they differ by less than this (even sizes round the ratio a little).
RATIO_TOLERANCE = 0.01
#: The frame rate of a re-encode whose first clip states none.
DEFAULT_RATE = Fraction(24)


class JoinRefused(Exception):
    """The clips cannot be joined as they are (different ratios, no video stream): nothing was written."""


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """What decides between a remux and a re-encode."""

    codec: str
    width: int
    height: int
    pix_fmt: str | None
    time_base: Fraction | None
    rate: Fraction | None

    @property
    def key(self) -> tuple[str, int, int, str | None, Fraction | None]:
        """Equal keys: the clips' packets can follow each other in one stream."""
        return self.codec, self.width, self.height, self.pix_fmt, self.time_base


def probe(path: Path) -> ClipInfo:
    """The video stream of the clip at ``path``; `JoinRefused` when it has none."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise JoinRefused(f"{path} holds no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        return ClipInfo(ctx.name, ctx.width, ctx.height, ctx.pix_fmt, stream.time_base,
                        Fraction(rate) if rate else None)


def join(clips: Sequence[tuple[str, Path]], out: IO[bytes]) -> str:
    """Write ``clips`` ((label, path) in order) joined into the MP4 file ``out``; returns how: ``"remux"`` or
    ``"re-encode"``. Raises `JoinRefused` for clips of different ratios (reported with their labels)."""
    try:
        return _join(clips, out)
    except av.FFmpegError as exc:  # a clip FFmpeg cannot read: the sequence is not written, the run goes on
        raise JoinRefused(f"FFmpeg could not join its clips: {exc}") from exc


def _join(clips: Sequence[tuple[str, Path]], out: IO[bytes]) -> str:
    infos = [probe(path) for _, path in clips]
    first = infos[0]
    for (label, _), info in zip(clips, infos, strict=True):
        if abs(info.width * first.height / (info.height * first.width) - 1) > RATIO_TOLERANCE:
            sizes = ", ".join(f"{lab} {i.width}x{i.height}" for (lab, _), i in zip(clips, infos, strict=True))
            raise JoinRefused(f"its clips have different ratios ({sizes}); a sequence joins clips of one ratio "
                              f"(first seen at {label})")
    paths = [path for _, path in clips]
    if all(info.key == first.key for info in infos):
        _remux(paths, out)
        return "remux"
    _reencode(paths, first, out)
    return "re-encode"


def _remux(paths: Sequence[Path], out: IO[bytes]) -> None:
    """Copy every clip's video packets into one stream, each clip's timestamps moved past the ones before."""
    with av.open(out, "w", format="mp4") as output:
        stream: Any = None
        offset = 0
        for path in paths:
            with av.open(str(path)) as container:
                source = container.streams.video[0]
                if stream is None:
                    stream = output.add_stream_from_template(source)
                end = offset
                for packet in container.demux(source):
                    if packet.dts is None or packet.size == 0:  # the demuxer's empty flush packet
                        continue
                    pts = packet.pts if packet.pts is not None else packet.dts
                    end = max(end, offset + pts + (packet.duration or 0))
                    packet.pts = pts + offset
                    packet.dts += offset
                    packet.stream = stream
                    output.mux(packet)
                offset = end


def _reencode(paths: Sequence[Path], first: ClipInfo, out: IO[bytes]) -> None:
    """Decode every clip and encode its frames, at the first clip's size and frame rate, into one H.264 stream."""
    rate = first.rate or DEFAULT_RATE
    with av.open(out, "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=rate, options={"preset": "veryfast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = first.width, first.height, "yuv420p"
        count = 0
        for path in paths:
            with av.open(str(path)) as container:
                for frame in container.decode(video=0):
                    picture = frame.reformat(width=first.width, height=first.height, format="yuv420p")
                    picture.pts, picture.time_base = count, 1 / rate
                    count += 1
                    output.mux(stream.encode(picture))
        output.mux(stream.encode())
