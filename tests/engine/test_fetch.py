"""Streaming files from a signed-URL host (a real aiohttp server on 127.0.0.1) to disk."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from photogpt_batch.engine.fetch import (
    FetchError,
    IncompleteDownload,
    SizeMismatch,
    UrlExpired,
    fetch_file,
    safe_component,
)
from photogpt_batch.layout import part_path

DATA = bytes(range(256)) * 4096  # 1 MiB, every byte value
SHA = hashlib.sha256(DATA).hexdigest()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FileHost:
    """A signed-URL host serving ``DATA`` at ``/f``: honours Range (unless told not to), rejects any
    Authorization header as object stores do, and can cut the body short on its first answer."""

    def __init__(self, *, honour_range: bool = True, cut_first_at: int | None = None, status: int | None = None):
        self.honour_range = honour_range
        self.cut_first_at = cut_first_at
        self.status = status
        self.ranges: list[str | None] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if "Authorization" in request.headers:
            return web.Response(status=400, text="Only one auth mechanism allowed")
        if self.status is not None:
            return web.Response(status=self.status, text="AccessDenied")
        self.ranges.append(request.headers.get("Range"))
        start = 0
        headers = {"Content-Type": "video/mp4"}
        if request.headers.get("Range") and self.honour_range:
            start = int(request.headers["Range"].removeprefix("bytes=").rstrip("-"))
            if start >= len(DATA):
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(DATA)}"})
            headers["Content-Range"] = f"bytes {start}-{len(DATA) - 1}/{len(DATA)}"
        body = DATA[start:]
        response = web.StreamResponse(status=206 if start else 200, headers=headers)
        response.content_length = len(body)
        await response.prepare(request)
        if self.cut_first_at is not None and len(self.ranges) == 1:
            await response.write(body[: self.cut_first_at])
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write(body)
        return response


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def host_url(serve, host: FileHost) -> str:
    app = web.Application()
    app.router.add_get("/f", host.handle)
    return str((await serve(app)).make_url("/f"))


async def test_full_download_gives_size_and_sha256_and_leaves_no_part(serve, session, tmp_path: Path) -> None:
    url = await host_url(serve, FileHost())
    dest = tmp_path / "job" / "1.mp4"

    result = await fetch_file(session, url, dest, read_timeout=5, chunk=64 * 1024)

    assert (result.bytes, result.sha256) == (len(DATA), SHA)
    assert dest.read_bytes() == DATA
    assert not part_path(dest).exists()


async def test_no_authorization_header_is_sent_to_the_file_host(serve, session, tmp_path: Path) -> None:
    # The host answers 400 to any Authorization header, like a signed object-store URL.
    url = await host_url(serve, FileHost())

    assert (await fetch_file(session, url, tmp_path / "v.mp4", read_timeout=5)).sha256 == SHA


async def test_a_session_with_a_default_authorization_header_is_refused(tmp_path: Path) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer k"}) as leaky:
        with pytest.raises(ValueError, match="Authorization"):
            await fetch_file(leaky, "http://127.0.0.1:9/f", tmp_path / "v.mp4", read_timeout=1)


async def test_a_short_body_raises_incomplete_and_keeps_the_part(serve, session, tmp_path: Path) -> None:
    url = await host_url(serve, FileHost(cut_first_at=300_000))
    dest = tmp_path / "v.mp4"

    with pytest.raises(IncompleteDownload) as caught:
        await fetch_file(session, url, dest, read_timeout=5, chunk=64 * 1024)

    assert not dest.exists()
    assert caught.value.expected == len(DATA)
    kept = part_path(dest).read_bytes()
    assert caught.value.received == len(kept)
    assert DATA.startswith(kept)


async def test_a_resume_asks_for_the_rest_with_range_and_appends(serve, session, tmp_path: Path) -> None:
    host = FileHost(cut_first_at=300_000)
    url = await host_url(serve, host)
    dest = tmp_path / "v.mp4"
    with pytest.raises(IncompleteDownload):
        await fetch_file(session, url, dest, read_timeout=5, chunk=64 * 1024)
    kept = part_path(dest).stat().st_size

    result = await fetch_file(session, url, dest, read_timeout=5, chunk=64 * 1024)

    assert host.ranges == [None, f"bytes={kept}-"]
    assert (result.bytes, result.sha256) == (len(DATA), SHA)
    assert dest.read_bytes() == DATA
    assert not part_path(dest).exists()


async def test_a_200_answer_to_range_restarts_from_zero(serve, session, tmp_path: Path) -> None:
    host = FileHost(honour_range=False)
    url = await host_url(serve, host)
    dest = tmp_path / "v.mp4"
    part_path(dest).write_bytes(b"garbage that is not a prefix")

    result = await fetch_file(session, url, dest, read_timeout=5)

    assert host.ranges == ["bytes=28-"]
    assert result.sha256 == SHA
    assert dest.read_bytes() == DATA


async def test_a_length_other_than_expected_is_detected(serve, session, tmp_path: Path) -> None:
    url = await host_url(serve, FileHost())
    dest = tmp_path / "v.mp4"

    with pytest.raises(SizeMismatch):
        await fetch_file(session, url, dest, expected_size=len(DATA) + 1, read_timeout=5)
    assert not dest.exists()
    assert not part_path(dest).exists()


async def test_a_body_longer_than_expected_is_detected(serve, session, tmp_path: Path) -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"x" * 2000)
        return response

    app = web.Application()
    app.router.add_get("/f", chunked)
    url = str((await serve(app)).make_url("/f"))
    dest = tmp_path / "v.mp4"

    with pytest.raises(SizeMismatch):
        await fetch_file(session, url, dest, expected_size=1000, read_timeout=5)
    assert not dest.exists()
    assert not part_path(dest).exists()


@pytest.mark.parametrize("status", [403, 404, 410])
async def test_an_expired_url_raises_url_expired_and_keeps_the_part(
    serve, session, tmp_path: Path, status: int
) -> None:
    url = await host_url(serve, FileHost(status=status))
    dest = tmp_path / "v.mp4"
    part_path(dest).write_bytes(DATA[:1000])

    with pytest.raises(UrlExpired) as caught:
        await fetch_file(session, url, dest, read_timeout=5)
    assert caught.value.status == status
    assert part_path(dest).read_bytes() == DATA[:1000]


async def test_another_status_is_a_fetch_error(serve, session, tmp_path: Path) -> None:
    url = await host_url(serve, FileHost(status=500))

    with pytest.raises(FetchError) as caught:
        await fetch_file(session, url, tmp_path / "v.mp4", read_timeout=5)
    assert caught.value.status == 500


async def test_a_complete_part_answered_416_is_finished(serve, session, tmp_path: Path) -> None:
    url = await host_url(serve, FileHost())
    dest = tmp_path / "v.mp4"
    part_path(dest).write_bytes(DATA)

    result = await fetch_file(session, url, dest, read_timeout=5)

    assert (result.bytes, result.sha256) == (len(DATA), SHA)
    assert dest.read_bytes() == DATA


async def test_a_stalled_body_times_out_as_incomplete(serve, session, tmp_path: Path) -> None:
    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 2000
        await response.prepare(request)
        await response.write(b"x" * 1000)
        await asyncio.Event().wait()  # cancelled when the client gives up
        return response

    app = web.Application()
    app.router.add_get("/f", stall)
    url = str((await serve(app)).make_url("/f"))
    dest = tmp_path / "v.mp4"

    with pytest.raises(IncompleteDownload):
        await fetch_file(session, url, dest, read_timeout=0.2)
    assert part_path(dest).read_bytes() == b"x" * 1000


async def test_the_file_and_its_directory_are_fsynced_before_returning(
    serve, session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    url = await host_url(serve, FileHost())
    dest = tmp_path / "job" / "1.mp4"

    await fetch_file(session, url, dest, read_timeout=5)

    assert dest.stat().st_ino in synced
    assert dest.parent.stat().st_ino in synced
    assert synced.index(dest.stat().st_ino) < synced.index(dest.parent.stat().st_ino)


# ---- safe_component -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["job_123", "vid-9.a", "ABC"])
def test_safe_component_leaves_safe_ids_alone(value: str) -> None:
    assert safe_component(value) == value


@pytest.mark.parametrize(
    "value", ["", ".", "..", "../../etc/passwd", "a/b", "a\\b", ".hidden", "con", "x\x00y", "é" * 300]
)
def test_safe_component_makes_hostile_ids_safe(value: str) -> None:
    result = safe_component(value)
    assert result and result not in (".", "..")
    assert not result.startswith(".")
    assert "/" not in result and "\\" not in result and "\x00" not in result
    assert len(result) <= 96


@given(st.text(max_size=300))
def test_safe_component_is_always_one_safe_component(value: str) -> None:
    result = safe_component(value)
    assert 0 < len(result) <= 96
    assert Path(result).name == result
    assert not result.startswith(".")
    assert result.isascii()


@given(st.text(max_size=50), st.text(max_size=50))
def test_safe_component_keeps_different_ids_apart(a: str, b: str) -> None:
    if a != b:
        assert safe_component(a) != safe_component(b)


async def test_the_sink_writes_and_hashes_in_order_across_many_blocks(tmp_path: Path) -> None:
    from photogpt_batch.engine.fetch import _Sink

    pieces = [os.urandom(n) for n in (1, 70_000, 3, 250_000, 1 << 16, 5)] * 7
    digest = hashlib.sha256()
    with open(tmp_path / "f", "wb") as out:
        sink = _Sink(out, digest, block=100_000, depth=2, sync_every=200_000)  # exercises early writeback
        for piece in pieces:
            await sink.write(piece)
        await sink.close()
    data = b"".join(pieces)
    assert (tmp_path / "f").read_bytes() == data
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
