"""Sandbox videos show what was asked: ratio, a duration that follows the request, the request drawn on them;
and the last frame a job returns is its video's last picture."""

from __future__ import annotations

import io
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import av
import pytest
from PIL import Image
from sandbox_helpers import Api

from photogpt_batch.sandbox import Sandbox
from photogpt_batch.sandbox.picture import MAX_SECONDS, Picture, picture_for, render, requested_seconds

Make = Callable[..., Awaitable[Sandbox]]


def seedance(prompt: str, **options: Any) -> dict[str, Any]:
    return {"modelID": "seedance-2.0", "prompt": prompt, "options": {"seedance": options}}


async def download(api: Api, session: aiohttp.ClientSession, body: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    job = await api.wait_job(await api.submit(body))
    url = await api.ready_url(job["videos"][0]["id"])
    async with session.get(url) as response:
        assert response.status == 200
        return job, await response.read()


def decode(data: bytes) -> tuple[list[Image.Image], float]:
    """Every frame (as RGB images) and the duration in seconds of an MP4 file's video."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        frames = [frame.to_image().convert("RGB") for frame in container.decode(stream)]
        assert stream.time_base is not None
        duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
    return frames, duration


async def test_a_video_has_the_requested_ratio_and_differs_from_frame_to_frame(
    api: Api, session: aiohttp.ClientSession
) -> None:
    _, portrait = await download(api, session, seedance("a tall shelf", ratio="9:16", duration=8))
    _, square = await download(api, session, seedance("a square box", ratio="1:1", duration=8))
    frames, _ = decode(portrait)
    width, height = frames[0].size
    assert height > width and abs(width / height - 9 / 16) < 0.02
    assert decode(square)[0][0].size == (320, 320)
    # It plays: the time bar moves, so the first and last pictures differ.
    assert frames[0].tobytes() != frames[-1].tobytes()


async def test_duration_follows_the_request_and_is_capped(api: Api, session: aiohttp.ClientSession) -> None:
    durations = {}
    for seconds in (4, 8, 15):
        _, data = await download(api, session, seedance(f"clip of {seconds}", duration=seconds))
        durations[seconds] = decode(data)[1]
    assert durations[4] < durations[8] <= MAX_SECONDS + 0.2
    assert durations[15] <= MAX_SECONDS + 0.2


async def test_different_requests_give_different_pictures(api: Api, session: aiohttp.ClientSession) -> None:
    _, first = await download(api, session, seedance("a red ball"))
    _, second = await download(api, session, seedance("a blue cube"))
    assert decode(first)[0][0].tobytes() != decode(second)[0][0].tobytes()


async def test_the_last_frame_is_the_videos_last_picture(api: Api, session: aiohttp.ClientSession) -> None:
    job, video = await download(api, session, seedance("last frame please", returnLastFrame=True))
    async with session.get(job["images"][0]["url"]) as response:
        png = Image.open(io.BytesIO(await response.read())).convert("RGB")
    last = decode(video)[0][-1]
    assert png.size == last.size
    # H.264 is lossy: the decoded picture is close to the PNG, not equal.
    difference = sum(abs(int(a) - int(b)) for a, b in zip(png.tobytes(), last.tobytes(), strict=True))
    assert difference / len(last.tobytes()) < 12


async def test_plain_videos_serve_the_shipped_clip(make_sandbox: Make, api_for: Callable[[Sandbox], Api],
                                                   session: aiohttp.ClientSession) -> None:
    api = api_for(await make_sandbox(render_videos=False))
    _, data = await download(api, session, seedance("anything", ratio="9:16"))
    frames, _ = decode(data)
    assert frames[0].size == (128, 72)


def test_equal_requests_are_encoded_once() -> None:
    picture = picture_for(seedance("cached", ratio="4:3", duration=6), 6, "720p", 1, 1)
    render(picture)
    started = time.perf_counter()
    for _ in range(50):
        render(Picture(**picture.__dict__))
    assert time.perf_counter() - started < 0.05


@pytest.mark.parametrize(("ratio", "size"), [("16:9", (320, 180)), ("9:16", (180, 320)), ("21:9", (320, 138)),
                                             ("adaptive", (320, 180))])
def test_picture_size_keeps_the_ratio_with_even_sides(ratio: str, size: tuple[int, int]) -> None:
    assert picture_for(seedance("p", ratio=ratio), 5, None, 1, 1).size == size


def test_requested_seconds_come_from_the_options_group() -> None:
    assert requested_seconds(seedance("p", duration=9)) == 9
    assert requested_seconds(seedance("p", duration=-1)) == 5 and requested_seconds({"prompt": "p"}) == 5


def test_a_huge_prompt_is_drawn_quickly() -> None:
    started = time.perf_counter()
    clip, png = render(picture_for(seedance("word " * 50_000, duration=4), 4, None, 1, 1))
    assert clip[4:8] == b"ftyp" and png.startswith(b"\x89PNG")
    assert time.perf_counter() - started < 2
