"""The file origin: signed, expiring URLs; ranges; no credentials accepted; real, playable MP4 files."""

from __future__ import annotations

import hashlib
import struct
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import av
from sandbox_helpers import MINIMAL, Api

from photogpt_batch.sandbox import ManualClock, Sandbox
from photogpt_batch.sandbox.media import VideoFile

Make = Callable[..., Awaitable[Sandbox]]


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """ISO BMFF boxes in data[start:end] as (type, offset, size); fails on a box that overruns."""
    end = len(data) if end is None else end
    found, pos = [], start
    while pos < end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        elif size == 0:
            size = end - pos
        assert size >= 8 and pos + size <= end, f"box {kind!r} at {pos} overruns"
        found.append((kind, pos, size))
        pos += size
    return found


async def video_url(api: Api, body: dict | None = None) -> tuple[str, str]:
    job = await api.wait_job(await api.submit(body or MINIMAL))
    video_id = job["videos"][0]["id"]
    return video_id, await api.ready_url(video_id)


async def fetch(
    session: aiohttp.ClientSession, url: str, **kwargs
) -> tuple[int, bytes, dict[str, str]]:
    async with session.get(url, **kwargs) as response:
        return response.status, await response.read(), dict(response.headers)


async def test_signed_url_serves_the_file_with_content_length(
    api: Api, session: aiohttp.ClientSession
) -> None:
    _, url = await video_url(api)
    status, data, headers = await fetch(session, url)
    assert status == 200
    assert int(headers["Content-Length"]) == len(data) == 20_000
    assert headers["Content-Type"] == "video/mp4"


async def test_file_is_a_valid_mp4(api: Api, session: aiohttp.ClientSession) -> None:
    video_id, url = await video_url(api)
    _, data, _ = await fetch(session, url)
    top = boxes(data)
    kinds = [kind for kind, _, _ in top]
    assert kinds[0] == b"ftyp"
    assert b"moov" in kinds and b"mdat" in kinds
    _, moov_at, moov_size = next(box for box in top if box[0] == b"moov")
    inner = [kind for kind, _, _ in boxes(data, moov_at + 8, moov_at + moov_size)]
    assert b"mvhd" in inner and b"trak" in inner
    assert sum(size for _, _, size in top) == len(data)
    assert video_id.encode() in data


async def test_every_video_has_different_bytes(api: Api, session: aiohttp.ClientSession) -> None:
    job = await api.wait_job(await api.submit(MINIMAL | {"numVideos": 2}))
    digests = set()
    for video in job["videos"]:
        _, data, _ = await fetch(session, await api.ready_url(video["id"]))
        digests.add(hashlib.sha256(data).hexdigest())
    assert len(digests) == 2


async def test_same_video_has_the_same_bytes_each_time(api: Api, session: aiohttp.ClientSession) -> None:
    _, url = await video_url(api)
    first, second = (await fetch(session, url))[1], (await fetch(session, url))[1]
    assert first == second


async def test_the_video_decodes_to_its_last_frame(api: Api, session: aiohttp.ClientSession, tmp_path: Path) -> None:
    # PyAV (FFmpeg inside its wheel) decodes every frame: no system ffmpeg needed, so this never skips.
    _, url = await video_url(api)
    path = tmp_path / "v.mp4"
    path.write_bytes((await fetch(session, url))[1])
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = sum(1 for _ in container.decode(stream))
    assert frames > 0


async def test_bad_signature_gets_403(api: Api, session: aiohttp.ClientSession) -> None:
    _, url = await video_url(api)
    status, _, _ = await fetch(session, url[:-4] + "0000")
    assert status == 403


async def test_missing_signature_gets_403(api: Api, session: aiohttp.ClientSession) -> None:
    _, url = await video_url(api)
    status, _, _ = await fetch(session, url.split("?")[0])
    assert status == 403


async def test_signature_is_bound_to_the_path(api: Api, session: aiohttp.ClientSession) -> None:
    job = await api.wait_job(await api.submit(MINIMAL | {"numVideos": 2}))
    first, second = (v["id"] for v in job["videos"])
    url = await api.ready_url(first)
    status, _, _ = await fetch(session, url.replace(first, second))
    assert status == 403


async def test_url_expires_after_the_ttl(
    make_sandbox: Make, api_for: Callable[[Sandbox], Api], session: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    sandbox = await make_sandbox(clock=clock, url_ttl_seconds=60, prepare_seconds=0)
    api = api_for(sandbox)
    job_id = await api.submit()
    clock.advance(5)
    url = await api.ready_url((await api.job(job_id))["videos"][0]["id"])
    assert int(parse_qs(urlsplit(url).query)["expires"][0]) == int(clock() + 60)
    assert (await fetch(session, url))[0] == 200
    clock.advance(61)
    assert (await fetch(session, url))[0] == 403


async def test_range_request_gets_206_with_content_range(api: Api, session: aiohttp.ClientSession) -> None:
    _, url = await video_url(api)
    _, whole, _ = await fetch(session, url)
    status, part, headers = await fetch(session, url, headers={"Range": "bytes=100-199"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert int(headers["Content-Length"]) == 100
    assert part == whole[100:200]


async def test_open_ended_range_resumes_to_the_end(api: Api, session: aiohttp.ClientSession) -> None:
    _, url = await video_url(api)
    _, whole, _ = await fetch(session, url)
    status, part, _ = await fetch(session, url, headers={"Range": "bytes=5000-"})
    assert status == 206
    assert part == whole[5000:]


async def test_suffix_range_gets_the_last_bytes(api: Api, session: aiohttp.ClientSession) -> None:
    _, url = await video_url(api)
    _, whole, _ = await fetch(session, url)
    status, part, _ = await fetch(session, url, headers={"Range": "bytes=-10"})
    assert status == 206
    assert part == whole[-10:]


async def test_unsatisfiable_range_gets_416(api: Api, session: aiohttp.ClientSession) -> None:
    _, url = await video_url(api)
    status, _, headers = await fetch(session, url, headers={"Range": "bytes=20000-"})
    assert status == 416
    assert headers["Content-Range"] == "bytes */20000"


async def test_authorization_header_is_rejected_and_counted(api: Api, session: aiohttp.ClientSession) -> None:
    _, url = await video_url(api)
    status, _, _ = await fetch(session, url, headers={"Authorization": "Bearer test-key"})
    assert status in (400, 403)
    assert api.sandbox.counters.credentialed_file_requests == 1


async def test_head_gives_the_length_without_a_body(api: Api, session: aiohttp.ClientSession) -> None:
    _, url = await video_url(api)
    async with session.head(url) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == "20000"


async def test_file_size_is_configurable(
    make_sandbox: Make, api_for: Callable[[Sandbox], Api], session: aiohttp.ClientSession
) -> None:
    api = api_for(await make_sandbox(video_bytes=200_000))
    _, url = await video_url(api)
    _, data, _ = await fetch(session, url)
    assert len(data) == 200_000
    assert sum(size for _, _, size in boxes(data)) == 200_000


async def test_gigabyte_file_is_served_by_range_without_building_it(
    make_sandbox: Make, api_for: Callable[[Sandbox], Api], session: aiohttp.ClientSession
) -> None:
    gib = 1 << 30
    api = api_for(await make_sandbox(video_bytes=gib))
    _, url = await video_url(api)
    async with session.head(url) as response:
        assert int(response.headers["Content-Length"]) == gib
    status, tail, headers = await fetch(session, url, headers={"Range": f"bytes={gib - 1024}-"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes {gib - 1024}-{gib - 1}/{gib}"
    assert tail == bytes(1024)


def test_large_file_streams_with_flat_memory() -> None:
    size = 256 << 20
    video = VideoFile("vid_big", size)
    tracemalloc.start()
    try:
        total = sum(len(chunk) for chunk in video.iter_range())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 1 << 20


def test_large_file_boxes_add_up() -> None:
    video = VideoFile("vid_big", 5 << 30)  # past 4 GiB: the padding box needs a 64-bit size
    head = video.head
    top = []
    pos = 0
    # Only the header is walked: the last box's declared size must reach exactly the end of the file.
    while pos < len(head):
        size, kind = struct.unpack(">I4s", head[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", head[pos + 8 : pos + 16])[0]
        top.append(kind)
        pos += size
    assert top[-1] == b"free"
    assert pos == video.length


async def test_unknown_file_with_a_valid_signature_gets_404(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    status, _, _ = await fetch(session, sandbox.signed_url("/files/vid_nope.mp4"))
    assert status == 404


async def test_playlist_url_answers_an_hls_playlist(api: Api, session: aiohttp.ClientSession) -> None:
    job = await api.wait_job(await api.submit())
    status, data, headers = await fetch(session, job["videos"][0]["url"])
    assert status == 200
    assert data.startswith(b"#EXTM3U")
    assert "mpegurl" in headers["Content-Type"]


async def test_api_key_in_any_header_is_refused_and_counted(api: Api, session: aiohttp.ClientSession) -> None:
    _, url = await video_url(api)
    status, _, _ = await fetch(session, url, headers={"X-Api-Key": "test-key"})
    assert status in (400, 403)
    assert api.sandbox.counters.credentialed_file_requests == 1


async def test_plain_file_request_is_not_credentialed(api: Api, session: aiohttp.ClientSession) -> None:
    _, url = await video_url(api)
    assert (await fetch(session, url))[0] == 200
    assert api.sandbox.counters.credentialed_file_requests == 0
