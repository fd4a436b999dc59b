"""A hostile or broken server cannot make the engine write outside the output folder or crash it."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cli_in_process import run_main
from engine_helpers import engine_options, load, write_campaign

from photogpt_batch.runner import RunConfig, run_campaign

MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 1000


class HostileApi:
    """Answers like PhotoGPT, but with server ids made of path traversals."""

    def __init__(self, videos: Any = None) -> None:
        self.paths: list[str] = []
        self.videos = videos
        self.job_refusal: int | None = None  # answer GET /jobs/{id} with this status (and a NOK envelope)
        self.key_revoked_at_post: int | None = None  # the Nth POST and everything after it: 401
        self.posts = 0
        self.base_url = ""
        self._ready = threading.Event()
        self._stop: Any = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.raw_path
        self.paths.append(path)
        if path.startswith("/file"):
            return web.Response(body=MP4, content_type="video/mp4")
        if path == "/api/ping":
            return web.json_response({"status": "OK", "message": "pong!"})
        if self.key_revoked_at_post is not None and self.posts >= self.key_revoked_at_post:
            return web.json_response({"status": "NOK", "message": "key revoked"}, status=401)
        if path == "/api/videos/generation":
            self.posts += 1
            if self.posts == self.key_revoked_at_post:
                self.paths.append("-- 401 --")
                return web.json_response({"status": "NOK", "message": "key revoked"}, status=401)
            return web.json_response({"status": "OK", "result": {"jobId": "../../../escape", "status": "queued"}})
        if path.startswith("/api/jobs/") and self.job_refusal is not None:
            return web.json_response({"status": "NOK", "message": "invalid job id"}, status=self.job_refusal)
        if path.startswith("/api/jobs/"):
            videos = self.videos if self.videos is not None else [
                {"id": "../../../../tmp/evil", "url": "x.m3u8"}, {"id": "/etc/passwd", "url": "y.m3u8"}]
            return web.json_response({"status": "OK", "result": {"jobId": "../../../escape", "status": "SUCCESS",
                                                                 "videos": videos}})
        if path.endswith("/create-download"):
            return web.json_response({"status": "OK", "result": "started"})
        if path.endswith("/download"):
            url = f"{self.base_url}/file/{len(self.paths)}"
            return web.json_response({"status": "OK", "result": {"status": "ready", "percentComplete": 100,
                                                                 "url": url}})
        return web.json_response({"status": "NOK", "message": "unknown"}, status=404)


def _config(api: HostileApi) -> RunConfig:
    return RunConfig(base_url=api.base_url + "/api", api_key="k", requests_per_second=1000, engine=engine_options())


@pytest.fixture
def hostile() -> Iterator[HostileApi]:
    api = HostileApi()

    def serve() -> None:
        async def main() -> None:
            server = TestServer(api.app(), host="127.0.0.1")
            await server.start_server()
            api.base_url = str(server.make_url("")).rstrip("/")
            stop = asyncio.Event()
            api._stop = (asyncio.get_running_loop(), stop)
            api._ready.set()
            await stop.wait()
            await server.close()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert api._ready.wait(10)
    yield api
    loop, stop = api._stop
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


def test_server_ids_with_path_traversal_cannot_write_outside_the_output(tmp_path: Path, hostile: HostileApi) -> None:
    work = tmp_path / "work"
    work.mkdir()
    campaign = load(write_campaign(work, jobs=1))
    summary = run_campaign(campaign, _config(hostile))
    assert summary.complete
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
                   and ".photogpt-batch" not in p.parts)
    assert files == ["work/out/clip-1/1.mp4", "work/out/clip-1/2.mp4", "work/out/index.html", "work/out/manifest.jsonl",
                     "work/t.yaml"]
    # Ids travel as one escaped path segment each: the traversal never reached the server's router as path.
    assert all("/../" not in p for p in hostile.paths)


def test_a_success_without_videos_is_a_failed_job_not_a_crash(tmp_path: Path, hostile: HostileApi) -> None:
    hostile.videos = []
    campaign = load(write_campaign(tmp_path, jobs=1))
    summary = run_campaign(campaign, _config(hostile))
    assert summary.failed == [("clip-1", "the job succeeded but lists no videos")]


def test_malformed_video_entries_are_ignored_not_fatal(tmp_path: Path, hostile: HostileApi) -> None:
    hostile.videos = [{"id": "v1", "url": "a"}, "garbage", {"url": "no id"}, None]
    campaign = load(write_campaign(tmp_path, jobs=1))
    summary = run_campaign(campaign, _config(hostile))
    assert summary.complete and summary.videos_downloaded == 1


def test_videos_that_are_not_a_list_fail_the_job_not_the_run(tmp_path: Path, hostile: HostileApi) -> None:
    hostile.videos = 7
    campaign = load(write_campaign(tmp_path, jobs=2))
    summary = run_campaign(campaign, _config(hostile))
    assert sorted(summary.failed) == [("clip-1", "the job succeeded but lists no videos"),
                                      ("clip-2", "the job succeeded but lists no videos")]


def test_a_400_on_a_job_poll_fails_that_job_with_the_servers_message(tmp_path: Path, hostile: HostileApi) -> None:
    hostile.job_refusal = 400
    campaign = load(write_campaign(tmp_path, jobs=2))
    summary = run_campaign(campaign, _config(hostile))
    assert sorted(summary.failed) == [("clip-1", "invalid job id"), ("clip-2", "invalid job id")]
    assert summary.aborted is None and not summary.interrupted


def test_a_key_refused_mid_run_stops_everything_reports_and_exits_1(tmp_path: Path, hostile: HostileApi) -> None:
    hostile.key_revoked_at_post = 2
    spec = write_campaign(tmp_path, jobs=3)
    env = {**os.environ, "PHOTOGPT_API_KEY": "test-key-7f3a", "PHOTOGPT_BASE_URL": hostile.base_url + "/api"}
    result = run_main(["run", str(spec), "--concurrency", "1", "--rate", "1000", "--quiet"], env)
    # Exit 2 means "nothing sent"; a job was submitted and paid for before the key was refused.
    assert result.returncode == 1, result.stderr
    assert "stopped: the API refused the key: key revoked" in result.stderr, result.stderr[-600:]
    assert "Traceback" not in result.stderr
    after = hostile.paths[hostile.paths.index("-- 401 --") + 1:]
    assert "/api/jobs" not in after and not any(p == "/api/videos/generation" for p in after)
    assert hostile.posts == 2  # the third job was never tried
