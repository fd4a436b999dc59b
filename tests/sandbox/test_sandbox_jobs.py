"""Jobs move created -> queued -> running -> success | failed, and GET /jobs lists them by time, in pages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sandbox_helpers import MINIMAL, Api

from photogpt_batch.sandbox import Faults, ManualClock, Sandbox

Make = Callable[..., Awaitable[Sandbox]]


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


async def test_job_moves_through_every_status(make_sandbox: Make, api_for: Callable[[Sandbox], Api]) -> None:
    clock = ManualClock()
    api = api_for(
        await make_sandbox(clock=clock, created_seconds=1, queue_seconds=1, generation_seconds=(2, 2))
    )
    job_id = await api.submit()
    seen = []
    for step in (0, 1, 1, 2):
        clock.advance(step)
        seen.append((await api.job(job_id))["status"])
    assert seen == ["created", "queued", "running", "success"]


async def test_job_result_has_the_documented_fields(
    make_sandbox: Make, api_for: Callable[[Sandbox], Api]
) -> None:
    clock = ManualClock()
    api = api_for(await make_sandbox(clock=clock, generation_seconds=(1, 1)))
    job_id = await api.submit()
    running = await api.job(job_id)
    assert set(running) == {"jobId", "status", "videos", "images", "error", "modelId", "createdAt"}
    assert running["videos"] == [] and running["images"] == [] and running["error"] is None
    assert running["modelId"] == "veo-3.1"
    assert datetime.fromisoformat(running["createdAt"]).timestamp() == clock()
    clock.advance(2)
    done = await api.job(job_id)
    assert done["status"] == "success"
    assert len(done["videos"]) == 1
    assert set(done["videos"][0]) == {"id", "url"}
    assert done["videos"][0]["url"].endswith(".m3u8")


async def test_job_finishes_in_real_time_with_the_default_clock(api: Api) -> None:
    job = await api.wait_job(await api.submit())
    assert job["status"] == "success"


async def test_failed_job_ends_failed_with_an_error_and_no_videos(
    make_sandbox: Make, api_for: Callable[[Sandbox], Api]
) -> None:
    api = api_for(await make_sandbox(faults=Faults(fail_nth=(1,))))
    job = await api.wait_job(await api.submit())
    assert job["status"] == "failed"
    assert job["error"]
    assert job["videos"] == []


async def test_num_videos_gives_that_many_videos(api: Api) -> None:
    job = await api.wait_job(await api.submit(MINIMAL | {"numVideos": 3}))
    ids = [v["id"] for v in job["videos"]]
    assert len(ids) == 3 and len(set(ids)) == 3


async def test_return_last_frame_adds_one_png_image_per_video(api: Api, session: aiohttp.ClientSession) -> None:
    body = {"modelID": "seedance-2.0", "prompt": "p", "numVideos": 2,
            "options": {"seedance": {"returnLastFrame": True}}}
    job = await api.wait_job(await api.submit(body))
    assert len(job["images"]) == 2
    async with session.get(job["images"][0]["url"]) as response:
        assert response.status == 200
        assert (await response.read()).startswith(b"\x89PNG\r\n\x1a\n")


async def test_no_return_last_frame_means_no_images(api: Api) -> None:
    job = await api.wait_job(await api.submit({"modelID": "seedance-2.0", "prompt": "p"}))
    assert job["images"] == []


async def test_unknown_job_gets_404_nok(api: Api) -> None:
    status, data = await api.get("/jobs/job_nope")
    assert status == 404
    assert data["status"] == "NOK"


async def test_jobs_list_items_have_the_documented_fields(api: Api) -> None:
    job_id = await api.submit()
    status, data = await api.get("/jobs")
    assert status == 200
    assert set(data["result"]) == {"jobs", "nextPageToken"}
    (item,) = data["result"]["jobs"]
    assert set(item) == {"jobId", "status", "credits", "errorMessage", "createdAt", "updatedAt"}
    assert item["jobId"] == job_id
    assert data["result"]["nextPageToken"] is None


async def test_jobs_list_pages_with_next_page_token(
    make_sandbox: Make, api_for: Callable[[Sandbox], Api]
) -> None:
    api = api_for(await make_sandbox(jobs_page_size=2))
    submitted = [await api.submit(MINIMAL | {"prompt": f"p{i}"}) for i in range(5)]
    listed, token, pages = [], None, 0
    while True:
        params: dict[str, str] = {"pageToken": token} if token else {}
        _, data = await api.get("/jobs", params=params)
        listed += [item["jobId"] for item in data["result"]["jobs"]]
        pages += 1
        token = data["result"]["nextPageToken"]
        if not token:
            break
    assert listed == submitted
    assert pages == 3


async def test_jobs_list_defaults_to_the_last_24_hours(
    make_sandbox: Make, api_for: Callable[[Sandbox], Api]
) -> None:
    clock = ManualClock()
    api = api_for(await make_sandbox(clock=clock))
    old = await api.submit()
    clock.advance(25 * 3600)
    new = await api.submit()
    _, data = await api.get("/jobs")
    assert [item["jobId"] for item in data["result"]["jobs"]] == [new]
    _, data = await api.get("/jobs", params={"start": iso(clock() - 26 * 3600), "end": iso(clock() - 3600)})
    assert [item["jobId"] for item in data["result"]["jobs"]] == [old]


async def test_jobs_range_over_7_days_gets_400(api: Api) -> None:
    end = datetime.now(UTC)
    params = {"start": (end - timedelta(days=8)).isoformat(), "end": end.isoformat()}
    status, data = await api.get("/jobs", params=params)
    assert status == 400
    assert "7 days" in data["message"]


async def test_jobs_range_of_exactly_7_days_is_fine(api: Api) -> None:
    end = datetime.now(UTC)
    status, _ = await api.get(
        "/jobs", params={"start": (end - timedelta(days=7)).isoformat(), "end": end.isoformat()}
    )
    assert status == 200


async def test_jobs_start_after_end_gets_400(api: Api) -> None:
    end = datetime.now(UTC)
    params = {"start": end.isoformat(), "end": (end - timedelta(hours=1)).isoformat()}
    status, _ = await api.get("/jobs", params=params)
    assert status == 400


async def test_jobs_time_that_is_not_rfc3339_gets_400(api: Api) -> None:
    for bad in ("yesterday", "2025-01-01T00:00:00"):  # the second lacks an offset
        status, data = await api.get("/jobs", params={"start": bad})
        assert status == 400, bad
        assert "start" in data["message"]


async def test_jobs_bad_page_token_gets_400(api: Api) -> None:
    status, data = await api.get("/jobs", params={"pageToken": "not-a-token"})
    assert status == 400
    assert "pageToken" in data["message"]


async def test_credits_follow_the_documented_formula(
    make_sandbox: Make, api_for: Callable[[Sandbox], Api]
) -> None:
    api = api_for(await make_sandbox(faults=Faults(fail_nth=(2,))))
    await api.submit(
        {"modelID": "veo-3.1", "prompt": "p", "numVideos": 2, "options": {"veo": {"duration": 4}}}
    )
    await api.submit({"modelID": "grok-imagine-1.5", "prompt": "p"})
    await api.submit({"modelID": "kling-motion-pro", "prompt": "p"})
    _, data = await api.get("/jobs")
    # veo-3.1: 10/s x 4 s x 2 videos; the failed grok job is refunded; kling motion bills a flat 10 s at 5/s.
    assert [item["credits"] for item in data["result"]["jobs"]] == [80, 0, 50]


async def test_credits_double_at_1080p_and_draft_mode_bills_its_480p(
    make_sandbox: Make, api_for: Callable[[Sandbox], Api]
) -> None:
    api = api_for(await make_sandbox())
    for options in ({"resolution": "720p"}, {"resolution": "1080p"}, {"resolution": "1080p", "draftMode": True}):
        await api.submit({"modelID": "seedance-1.5-pro", "prompt": "p",
                          "options": {"seedance": {"duration": 4, **options}}})
    _, data = await api.get("/jobs")
    # seedance-1.5-pro: 3/s x 4 s; x2 at 1080p; draft mode renders (and bills) 480p.
    assert [item["credits"] for item in data["result"]["jobs"]] == [12, 24, 12]


@pytest.mark.slow  # 1,000 jobs: seconds of CPU by design: out of the fast inner loop (see docs/development.md)
async def test_thousand_jobs_with_64_in_flight_are_cheap(
    make_sandbox: Make, api_for: Callable[[Sandbox], Api]
) -> None:
    api = api_for(await make_sandbox(generation_seconds=(0.0, 0.0), queue_seconds=0))
    gate = asyncio.Semaphore(64)

    async def one(i: int) -> str:
        async with gate:
            return await api.submit(MINIMAL | {"prompt": f"p{i}"})

    ids = await asyncio.gather(*(one(i) for i in range(1000)))
    assert len(set(ids)) == 1000
    seen, token = 0, None
    while True:
        _, data = await api.get("/jobs", params={"pageToken": token} if token else {})
        seen += sum(item["status"] == "success" for item in data["result"]["jobs"])
        token = data["result"]["nextPageToken"]
        if not token:
            break
    assert seen == 1000
