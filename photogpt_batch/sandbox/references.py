"""The API's side of reference files: each ``url`` of a job fetched when the job starts running, as the real
server does (minutes after the POST, for a queued job). A URL that cannot be fetched, has expired or serves
something that is no image or video the models take fails the job with a server's kind of message."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from .state import Job, World

#: The most the sandbox reads of one reference: more is refused, as a server refuses an oversized upload.
MAX_REFERENCE_BYTES = 100 * 1024 * 1024
_TIMEOUT = aiohttp.ClientTimeout(total=30)


class ReferenceFailed(Exception):
    """A reference the server could not use; the message is the job's error."""


def kind_of(head: bytes) -> str | None:
    """"image" or "video" by content (PNG, JPEG, WebP; MP4, MOV), or None."""
    if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head[4:8] in (b"ftyp", b"moov", b"wide", b"mdat"):
        return "video"
    return None


def references(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(url, role, wanted kind) of each reference of a valid request body."""
    found = [(str(i.get("url")), str(i.get("role")), "image") for i in body.get("referenceImages") or ()]
    found += [(str(v.get("url")), "reference_video", "video") for v in body.get("referenceVideos") or ()]
    return found


async def fetch_one(session: aiohttp.ClientSession, url: str, wanted: str) -> bytes:
    """The content at ``url``, which must be a ``wanted`` ("image" or "video"); `ReferenceFailed` otherwise."""
    try:
        async with session.get(url, allow_redirects=True) as response:
            if response.status in (401, 403):
                raise ReferenceFailed(f"failed to download reference file: access denied or URL expired "
                                      f"(HTTP {response.status}): {_short(url)}")
            if response.status != 200:
                raise ReferenceFailed(f"failed to download reference file (HTTP {response.status}): {_short(url)}")
            data = await response.content.read(MAX_REFERENCE_BYTES + 1)
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        raise ReferenceFailed(f"failed to download reference file: {type(exc).__name__}: {_short(url)}") from None
    if len(data) > MAX_REFERENCE_BYTES:
        raise ReferenceFailed(f"reference file is too large: {_short(url)}")
    if kind_of(data[:16]) != wanted:
        raise ReferenceFailed(f"unsupported reference file format: expected a {wanted} (PNG, JPEG or WebP images; "
                              f"MP4 or MOV videos): {_short(url)}")
    return data


def _short(url: str) -> str:
    """The URL without its query: a signature is not repeated in an error message."""
    return url.split("?", 1)[0]


async def fetch_at_start(world: World, job: Job) -> None:
    """Wait until ``job`` starts running, fetch its references, and fail it if one cannot be used; its first
    frame is kept for its videos. The job cannot finish while this runs (`Job.fetching`)."""
    job.fetching = True
    try:
        delay = job.running_at - world.now()
        if delay > 0:
            await asyncio.sleep(delay)
        async with aiohttp.ClientSession(timeout=_TIMEOUT) as session:
            for url, role, wanted in references(job.body):
                data = await fetch_one(session, url, wanted)
                if role == "first_frame":
                    job.first_frame = data
    except ReferenceFailed as exc:
        job.fails, job.error_message, job.credits = True, str(exc), 0
        job.finished_at = min(job.finished_at, max(world.now(), job.running_at))
    finally:
        job.fetching = False
