"""Videos of finished jobs are listed and inspected; downloads are prepared in two steps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
from sandbox_helpers import MINIMAL, Api

from photogpt_batch.sandbox import ManualClock, Sandbox

Make = Callable[..., Awaitable[Sandbox]]
VIDEO_FIELDS = {"id", "jobId", "modelID", "type", "url", "createdAt", "updatedAt"}


async def finished_video(api: Api) -> str:
    job = await api.wait_job(await api.submit())
    return job["videos"][0]["id"]


async def test_videos_list_holds_finished_videos(api: Api) -> None:
    job = await api.wait_job(await api.submit(MINIMAL | {"numVideos": 2}))
    status, data = await api.get("/videos", params={"videoType": "all", "pageNum": "1", "pageSize": "20"})
    assert status == 200
    assert {v["id"] for v in data["result"]} == {v["id"] for v in job["videos"]}
    assert all(set(v) == VIDEO_FIELDS for v in data["result"])


async def test_videos_list_pages(api: Api) -> None:
    await api.wait_job(await api.submit(MINIMAL | {"numVideos": 3}))
    _, first = await api.get("/videos", params={"pageNum": "1", "pageSize": "2"})
    _, second = await api.get("/videos", params={"pageNum": "2", "pageSize": "2"})
    assert (len(first["result"]), len(second["result"])) == (2, 1)


async def test_videos_list_bad_page_size_gets_400(api: Api) -> None:
    status, data = await api.get("/videos", params={"pageSize": "0"})
    assert status == 400
    assert "pageSize" in data["message"]


async def test_video_record_has_the_documented_fields(api: Api) -> None:
    job = await api.wait_job(await api.submit())
    video_id = job["videos"][0]["id"]
    status, data = await api.get(f"/videos/{video_id}")
    assert status == 200
    record = data["result"]
    assert set(record) == VIDEO_FIELDS
    assert (record["id"], record["jobId"], record["modelID"]) == (video_id, job["jobId"], "veo-3.1")


async def test_unknown_video_gets_404_nok(api: Api) -> None:
    status, data = await api.get("/videos/vid_nope")
    assert status == 404
    assert data["status"] == "NOK"


async def test_video_of_an_unfinished_job_is_not_found(
    make_sandbox: Make, api_for: Callable[[Sandbox], Api]
) -> None:
    sandbox = await make_sandbox(clock=ManualClock())
    api = api_for(sandbox)
    job = sandbox.jobs[await api.submit()]
    status, _ = await api.get(f"/videos/{job.video_ids[0]}")
    assert status == 404


async def test_download_before_create_download_gets_409(api: Api) -> None:
    video_id = await finished_video(api)
    status, data = await api.get(f"/videos/{video_id}/download")
    assert status == 409
    assert data["status"] == "NOK"


async def test_create_download_answers_a_string(api: Api) -> None:
    status, data = await api.get(f"/videos/{await finished_video(api)}/create-download")
    assert status == 200
    assert isinstance(data["result"], str)


async def test_download_progresses_then_is_ready_with_a_url(
    make_sandbox: Make, api_for: Callable[[Sandbox], Api]
) -> None:
    clock = ManualClock()
    api = api_for(await make_sandbox(clock=clock, prepare_seconds=4))
    job_id = await api.submit()
    clock.advance(5)
    video_id = (await api.job(job_id))["videos"][0]["id"]
    await api.get(f"/videos/{video_id}/create-download")
    seen = []
    for _ in range(5):
        _, data = await api.get(f"/videos/{video_id}/download")
        seen.append((data["result"]["status"], data["result"]["percentComplete"]))
        clock.advance(1)
    assert seen[:4] == [("inprogress", 0), ("inprogress", 25), ("inprogress", 50), ("inprogress", 75)]
    assert seen[4] == ("ready", 100)
    _, data = await api.get(f"/videos/{video_id}/download")
    assert data["result"]["url"].startswith(api.sandbox.files_url + f"/files/{video_id}.mp4?")


async def test_create_download_is_safe_to_repeat(
    make_sandbox: Make, api_for: Callable[[Sandbox], Api]
) -> None:
    clock = ManualClock()
    api = api_for(await make_sandbox(clock=clock, prepare_seconds=4))
    job_id = await api.submit()
    clock.advance(5)
    video_id = (await api.job(job_id))["videos"][0]["id"]
    await api.get(f"/videos/{video_id}/create-download")
    clock.advance(2)
    status, _ = await api.get(f"/videos/{video_id}/create-download")
    _, data = await api.get(f"/videos/{video_id}/download")
    # The repeat did not restart the preparation.
    assert status == 200
    assert data["result"]["percentComplete"] == 50


async def test_ready_url_serves_the_video(api: Api, session: aiohttp.ClientSession) -> None:
    url = await api.ready_url(await finished_video(api))
    async with session.get(url) as response:
        assert response.status == 200
        assert len(await response.read()) == api.sandbox.config.video_bytes


async def test_download_of_unknown_video_gets_404(api: Api) -> None:
    status, _ = await api.get("/videos/vid_nope/create-download")
    assert status == 404
