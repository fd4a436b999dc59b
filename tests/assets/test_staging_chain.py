"""The whole chain: a local file validated, hashed, staged on a real S3-compatible server (moto), signed at
submission, fetched by the sandbox when the job starts; expiry, a missing store and the sandbox's own store."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import av
import pytest
from aiohttp import web
from asset_helpers import campaign_file, s3_client
from engine_helpers import fast_sandbox, load, posts, run_config

from photogpt_batch.assets.sandbox_store import SandboxStore
from photogpt_batch.engine.progress import Progress
from photogpt_batch.ledger import ledger_path
from photogpt_batch.runner import ConfigError, run_campaign
from photogpt_batch.sandbox import SandboxThread


def first_frame_pixel(video: Path) -> tuple[int, int, int]:
    with av.open(str(video)) as container:
        image = next(container.decode(video=0)).to_image()
    return image.getpixel((image.width // 2, image.height // 2))


def test_local_files_are_staged_signed_and_fetched_by_the_server(photos: Path, s3_env: str,
                                                                 moto_endpoint: str) -> None:
    spec = campaign_file(photos, {"red": "file: photos/red.png", "green": "file: photos/green.png",
                                  "red-again": "file: photos/red.png"})
    campaign = load(spec)
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        config = run_config(sandbox)
        config.assets = f"s3://{s3_env}/catalog"
        summary = run_campaign(campaign, config)
        assert not summary.failed and summary.videos_downloaded == 3
        # Each job's server fetched its own photo: the video starts from it.
        red = first_frame_pixel(campaign.output / "red/1.mp4")
        green = first_frame_pixel(campaign.output / "green/1.mp4")
        assert red[0] > 150 > red[1] and green[1] > 150 > green[0]
        bodies = [job.body for job in sandbox.jobs.values()]
        assert all("X-Amz-Signature=" in b["referenceImages"][0]["url"] for b in bodies)
    keys = sorted(o["Key"] for o in s3_client(moto_endpoint).list_objects_v2(
        Bucket=s3_env, Prefix="catalog/")["Contents"])
    assert keys == sorted(f"catalog/{sha}.png" for sha in campaign.assets)  # two files, the red one once
    # The ledger keeps the content reference, never a signed URL.
    with sqlite3.connect(ledger_path(campaign.output)) as db:
        dump = "\n".join(db.iterdump())
    assert "X-Amz-Signature" not in dump and "asset:sha256:" in dump


def test_a_file_already_on_the_store_is_not_sent_again(photos: Path, s3_env: str, capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    spec = campaign_file(photos, {"red": "file: photos/red.png"}, name="once")
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        config = run_config(sandbox)
        config.assets = f"s3://{s3_env}/again"
        run_campaign(load(spec), config)
        spec = campaign_file(photos, {"red": "file: photos/red.png", "red2": "file: photos/red.png"}, name="once")
        progress = Progress(1)
        summary = run_campaign(load(spec), config, progress)
        assert not summary.failed
    assert "0 file(s), 0 bytes to upload to s3://" in capsys.readouterr().err


def test_local_files_without_a_store_are_refused_before_anything_is_sent(photos: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHOTOGPT_BATCH_ASSETS", raising=False)
    campaign = load(campaign_file(photos, {"red": "file: photos/red.png"}))
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        with pytest.raises(ConfigError, match=r"no object store is configured.*PHOTOGPT_BATCH_ASSETS"):
            run_campaign(campaign, run_config(sandbox))
        assert posts(sandbox) == 0


def test_an_expired_url_fails_the_job_and_a_rerun_signs_a_fresh_one(photos: Path) -> None:
    campaign = load(campaign_file(photos, {"red": "file: photos/red.png"}))
    with SandboxThread(fast_sandbox(fetch_references=True, queue_seconds=1.5)) as sandbox:
        store = SandboxStore(sandbox.files_url, sandbox.sandbox.signed_url)
        config = run_config(sandbox)
        config.store, config.url_ttl_seconds = store, 1  # expires while the job is queued
        summary = run_campaign(campaign, config)
        assert len(summary.failed) == 1
        failed = next(iter(sandbox.jobs.values()))
        assert "URL expired" in (failed.error_message or "")
        config.url_ttl_seconds = 3600
        assert config.engine is not None
        config.engine.retry_failed = True
        summary = run_campaign(campaign, config)
        assert not summary.failed and summary.videos_downloaded == 1
        urls = [job.body["referenceImages"][0]["url"] for job in sandbox.jobs.values()]
        assert len(set(urls)) == 2  # signed again for the new submission


async def test_a_reference_that_is_no_image_fails_the_job_with_the_servers_message(photos: Path, serve) -> None:
    async def login_page(request: web.Request) -> web.Response:
        return web.Response(text="<html>a login page</html>")

    app = web.Application()
    app.router.add_get("/page.png", login_page)
    server = await serve(app)
    spec = campaign_file(photos, {"page": f"url: '{server.make_url('/page.png')}'"})
    campaign = load(spec)

    def run() -> tuple[int, str]:
        with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
            summary = run_campaign(campaign, run_config(sandbox))
            return len(summary.failed), next(iter(sandbox.jobs.values())).error_message or ""

    failed, message = await asyncio.to_thread(run)
    assert failed == 1 and "unsupported reference file format" in message
