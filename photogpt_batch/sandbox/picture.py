"""What a sandbox video shows: the request drawn into every frame, so their review page is worth looking at.

Each video is a short H.264 clip in the requested aspect ratio whose length follows the requested duration
(scaled down and capped, so files stay a few kilobytes), on a colour derived from the request, with the model,
the prompt, the options and the time drawn on it (Pillow), encoded with PyAV (whose wheels carry FFmpeg and
libx264: no system ffmpeg needed). Equal requests give equal pictures, and the last picture rendered are kept,
so a test suite that sends the same request many times encodes it once.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

#: The clip's longer side in pixels: big enough to read the prompt, small enough for files of a few KB.
LONG_SIDE = 320
FPS = 8
#: One clip second per this many requested seconds...
TIME_SCALE = 4.0
#: ...within these bounds (seconds of clip).
MIN_SECONDS, MAX_SECONDS = 1.0, 3.0
#: Where a request names no ratio (or ``adaptive``), the picture is landscape, as the models' defaults are.
DEFAULT_RATIO = "16:9"
#: Clips kept in memory, by request: a few KB each.
CACHE_SIZE = 256


@dataclass(frozen=True)
class Picture:
    """Everything a clip shows; equal pictures give byte-identical clips."""

    model: str
    prompt: str
    ratio: str
    seconds: int  # requested
    resolution: str | None
    index: int  # 1-based number of this video among the job's
    count: int
    #: The first_frame image the job was given (its bytes, as fetched): the clip is drawn over it.
    first_frame: bytes | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height): the ratio with the longer side LONG_SIDE, both even (H.264 with 4:2:0 needs it)."""
        w, h = _ratio(self.ratio)
        width, height = (LONG_SIDE, LONG_SIDE * h / w) if w >= h else (LONG_SIDE * w / h, LONG_SIDE)
        return max(2, round(width / 2) * 2), max(2, round(height / 2) * 2)

    @property
    def clip_seconds(self) -> float:
        """How long the clip plays: the requested duration / TIME_SCALE, within [MIN_SECONDS, MAX_SECONDS]."""
        return min(MAX_SECONDS, max(MIN_SECONDS, self.seconds / TIME_SCALE))

    @property
    def frames(self) -> int:
        """Frames in the clip, at FPS."""
        return max(2, round(self.clip_seconds * FPS))

    @property
    def colour(self) -> tuple[int, int, int]:
        """The background: a hue from the whole request, dark enough for white text."""
        key = f"{self.model}\n{self.prompt}\n{self.ratio}\n{self.seconds}\n{self.resolution}\n{self.index}"
        digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
        hue = int.from_bytes(digest[:2], "big") / 65535
        r, g, b = colorsys.hsv_to_rgb(hue, 0.55 + digest[2] / 255 * 0.25, 0.38 + digest[3] / 255 * 0.12)
        return round(r * 255), round(g * 255), round(b * 255)


def _ratio(text: str) -> tuple[int, int]:
    left, _, right = text.partition(":")
    try:
        w, h = int(left), int(right)
    except ValueError:
        return 16, 9
    return (w, h) if w > 0 and h > 0 else (16, 9)


def requested_seconds(body: dict[str, Any], default: int = 5) -> int:
    """The ``duration`` a request's options group asks for (``default`` when none, or -1 for automatic)."""
    for group in (body.get("options") or {}).values():
        duration = group.get("duration") if isinstance(group, dict) else None
        if isinstance(duration, int) and not isinstance(duration, bool) and duration > 0:
            return duration
    return default


def picture_for(body: dict[str, Any], seconds: int, resolution: str | None, index: int, count: int,
                first_frame: bytes | None = None) -> Picture:
    """The picture of video ``index`` (1-based, of ``count``) of a valid request ``body``."""
    ratio = None
    for group in (body.get("options") or {}).values():
        if isinstance(group, dict):
            ratio = group.get("aspectRatio") or group.get("ratio") or ratio
    if not isinstance(ratio, str) or ratio == "adaptive" or ":" not in ratio:
        ratio = DEFAULT_RATIO
    return Picture(str(body.get("modelID", "")), str(body.get("prompt", "")), ratio, int(seconds), resolution,
                   index, count, first_frame)


def _wrap(text: str, font: Any, width: float, max_lines: int) -> list[str]:
    """``text`` broken into lines no wider than ``width``; the last shown line ends with '…' if cut."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if font.getlength(candidate) <= width or not line:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and font.getlength(last + "…") > width:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines


@lru_cache(maxsize=4)
def _font(size: int) -> Any:
    from PIL import ImageFont

    # Pillow's bundled font (FreeType): the same on every machine, no system fonts needed.
    return ImageFont.load_default(size=size)


def _backdrop(first_frame: bytes | None, size: tuple[int, int], colour: tuple[int, int, int]) -> Any:
    """The frame's background: the job's first_frame image scaled to cover it (a video starts from the image
    it was given), else a plain colour; an image Pillow cannot read gives the colour."""
    from PIL import Image, ImageOps

    if first_frame is not None:
        try:
            with Image.open(io.BytesIO(first_frame)) as image:
                return ImageOps.fit(image.convert("RGB"), size)
        except (OSError, ValueError, Image.DecompressionBombError):
            pass
    return Image.new("RGB", size, colour)


def _frames(picture: Picture) -> list[Any]:
    """The clip's frames as Pillow images."""
    from PIL import ImageDraw

    width, height = picture.size
    small, body_font = _font(11), _font(13 if width >= 240 else 12)
    margin = 10
    background = picture.colour
    accent = tuple(min(255, c + 110) for c in background)
    options = [picture.ratio, f"{picture.seconds} s asked"]
    if picture.resolution:
        options.append(picture.resolution)
    if picture.count > 1:
        options.append(f"video {picture.index}/{picture.count}")
    header = picture.model or "?"
    footer = " · ".join(options)
    line_height = body_font.size + 3
    room = height - 2 * margin - 16 - 30  # the header above, the footer and the time bar below
    # A dozen lines at most are shown: wrapping a long prompt's first 1,000 characters is enough to fill them.
    prompt_lines = _wrap(picture.prompt[:1000], body_font, width - 2 * margin, max(1, room // line_height))
    # The still part is drawn once; each frame adds the moving time bar.
    still = _backdrop(picture.first_frame, (width, height), background)
    draw = ImageDraw.Draw(still)
    draw.text((margin, margin), header, font=_font(15), fill=accent)
    for i, text in enumerate(prompt_lines):
        draw.text((margin, margin + 22 + i * line_height), text, font=body_font, fill=(255, 255, 255))
    draw.text((margin, height - margin - 26), footer, font=small, fill=(230, 230, 230))
    frames = []
    bar_y = height - margin - 8
    bar_w = width - 2 * margin - 60
    for f in range(picture.frames):
        done = f / (picture.frames - 1)
        image = still.copy()
        d = ImageDraw.Draw(image)
        d.rectangle((margin, bar_y, margin + bar_w, bar_y + 5), fill=tuple(c // 2 for c in background))
        d.rectangle((margin, bar_y, margin + round(bar_w * done), bar_y + 5), fill=accent)
        x = margin + round(bar_w * done)
        d.ellipse((x - 5, bar_y - 3, x + 5, bar_y + 8), fill=(255, 255, 255))
        d.text((width - margin - 52, bar_y - 5), f"{done * picture.seconds:4.1f} s", font=small, fill=(255, 255, 255))
        frames.append(image)
    return frames


@lru_cache(maxsize=CACHE_SIZE)
def render(picture: Picture) -> tuple[bytes, bytes]:
    """(MP4 clip, PNG of its last frame) for ``picture``: H.264 in MP4, moov first so it plays at once."""
    import av

    frames = _frames(picture)
    width, height = picture.size
    with tempfile.TemporaryDirectory(prefix="photogpt-sandbox-") as folder:
        # A file, not memory: FFmpeg's faststart moves the index to the front by reading the file back.
        path = os.path.join(folder, "clip.mp4")
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "28"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for image in frames:
                frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]  # PyAV leaves it untyped
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
        with open(path, "rb") as f:
            clip = f.read()
    png = io.BytesIO()
    frames[-1].save(png, format="PNG", optimize=True)
    return clip, png.getvalue()
