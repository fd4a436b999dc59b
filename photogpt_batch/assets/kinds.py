"""What a local reference file is: its kind by content (never by its name), its size limit, and the stable
reference (``asset:sha256:<hex>.<ext>``) a job's body holds in place of a URL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: The prefix of a body's reference to a local file by content; replaced by a signed URL when sent.
ASSET_SCHEME = "asset:sha256:"
_REF = re.compile(r"^asset:sha256:([0-9a-f]{64})\.([a-z0-9]+)$")

#: The largest file accepted, by kind. No model states a limit and the API refuses what it cannot take
#: (that job fails, not the run), so these are ceilings against mistakes: a 2 GB file named .png is not
#: uploaded and paid for before the server says no.
MAX_BYTES = {"image": 50 * 1024 * 1024, "video": 500 * 1024 * 1024}


@dataclass(frozen=True, slots=True)
class LocalAsset:
    """A reference file checked at load: where it is, what it holds, and its content's sha256."""

    path: Path
    sha256: str
    size: int
    kind: str  # "image" or "video"
    ext: str  # png, jpg, webp, mp4, mov
    mime: str

    @property
    def ref(self) -> str:
        """The body's stable reference to this file's content."""
        return asset_ref(self.sha256, self.ext)

    @property
    def key_name(self) -> str:
        """The object's name under the store's prefix: content-addressed, so a file already there is not sent."""
        return f"{self.sha256}.{self.ext}"


def asset_ref(sha256: str, ext: str) -> str:
    """``asset:sha256:<hex>.<ext>``."""
    return f"{ASSET_SCHEME}{sha256}.{ext}"


def parse_asset_ref(value: object) -> tuple[str, str] | None:
    """(sha256, ext) of an asset reference, or None when ``value`` is not one."""
    if not isinstance(value, str):
        return None
    match = _REF.match(value)
    return (match.group(1), match.group(2)) if match else None


def sniff(head: bytes) -> tuple[str, str, str] | None:
    """(kind, ext, MIME type) of a file from its first bytes, or None when it is none the API takes:
    PNG, JPEG and WebP images; MP4 and MOV videos."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "png", "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "jpg", "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "webp", "image/webp"
    box = head[4:8]
    if box == b"ftyp":
        if head[8:12] == b"qt  ":
            return "video", "mov", "video/quicktime"
        return "video", "mp4", "video/mp4"
    if box in (b"moov", b"wide", b"mdat"):  # QuickTime files from before the ftyp box
        return "video", "mov", "video/quicktime"
    return None
