"""Real media for the sandbox: playable MP4 videos of any size, PNG last frames, HLS playlists.

A video is an H.264 clip (the one `picture.render` draws for the job's request, or with rendering off the
shipped ``clip.mp4``: 1 s, 128x72) followed by two boxes that players skip: a ``uuid`` box holding the video
id, so every video's bytes and hash differ, and a ``free`` box of zeros that pads the file to the configured
size. Appending after
``mdat`` leaves the clip's chunk offsets valid, and the padding is generated while streaming, so a 1 GiB
file costs a few kilobytes of memory.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterator
from functools import cache
from importlib import resources

# Our own extended box type (a version-4 style UUID); the payload is "photogpt-sandbox video <id>".
SANDBOX_UUID = bytes.fromhex("5b2f0c4e7a1d4c3e9f6b2a8d1c0e4f71")
CHUNK_SIZE = 256 * 1024
_ZEROS = bytes(CHUNK_SIZE)
_MAX_32 = 0xFFFFFFFF


@cache
def base_clip() -> bytes:
    """The shipped clip: ftyp, moov, free, mdat (moov first, so it plays while downloading)."""
    return resources.files(__package__).joinpath("clip.mp4").read_bytes()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _free_header(size: int) -> bytes:
    """The header of a ``free`` box of ``size`` bytes in all (size >= 8); 64-bit sizes past 4 GiB."""
    if size <= _MAX_32:
        return struct.pack(">I4s", size, b"free")
    return struct.pack(">I4sQ", 1, b"free", size)


class VideoFile:
    """The bytes of one video, generated on demand: ``length`` bytes, served by ranges with flat memory."""

    def __init__(self, video_id: str, target_bytes: int, clip: bytes | None = None) -> None:
        clip = base_clip() if clip is None else clip
        tag = f"photogpt-sandbox video {video_id}".encode()
        head = clip + _box(b"uuid", SANDBOX_UUID + tag)
        gap = target_bytes - len(head)
        if 0 < gap < 8:
            # Too small for a box of its own: widen the id box instead, so the size is still exact.
            head = clip + _box(b"uuid", SANDBOX_UUID + tag + b" " * gap)
            gap = 0
        gap = max(gap, 0)
        # Only the free box's header is kept; its zero payload is produced while streaming.
        self.head = head + _free_header(gap) if gap else head
        self.length = len(head) + gap

    def iter_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes | memoryview]:
        """Yield the bytes in ``[start, end)`` (default: to the end) in chunks of at most CHUNK_SIZE."""
        end = self.length if end is None else min(end, self.length)
        pos = start
        head_len = len(self.head)
        while pos < end and pos < head_len:
            stop = min(end, head_len, pos + CHUNK_SIZE)
            yield self.head[pos:stop]
            pos = stop
        zeros = memoryview(_ZEROS)
        while pos < end:
            n = min(CHUNK_SIZE, end - pos)
            # A view of the shared zero buffer: nothing is allocated per chunk.
            yield zeros[:n]
            pos += n

    def read(self) -> bytes:
        """All the bytes at once: for tests and small files only."""
        return b"".join(bytes(chunk) for chunk in self.iter_range())


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & _MAX_32)


def make_png(image_id: str, width: int = 128, height: int = 72) -> bytes:
    """A valid RGB PNG, its colour derived from ``image_id`` and the id in a tEXt chunk: one per id."""
    r, g, b = hashlib.blake2b(image_id.encode(), digest_size=3).digest()
    row = b"\x00" + bytes((r, g, b)) * width  # filter type 0 (None) then the pixels
    pixels = zlib.compress(row * height, 9)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),
            _png_chunk(b"tEXt", b"Comment\x00photogpt-sandbox last frame " + image_id.encode()),
            _png_chunk(b"IDAT", pixels),
            _png_chunk(b"IEND", b""),
        )
    )


def make_playlist(segment_url: str, seconds: float = 1.0) -> str:
    """A one-segment VOD HLS playlist, the shape of the vendor's ``videos[].url`` (not a download)."""
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        f"#EXT-X-TARGETDURATION:{max(1, round(seconds))}\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:{seconds:.3f},\n{segment_url}\n#EXT-X-ENDLIST\n"
    )
