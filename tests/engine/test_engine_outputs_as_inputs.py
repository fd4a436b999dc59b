"""Outputs as inputs on the real sandbox and its store: a job's ``from:`` resolved just before its POST to the
upstream's downloaded video or a frame of it (extracted with PyAV, or the model's returned last frame), staged
and signed; an upstream not done, or a frame past the video's end, sends nothing and leaves the job planned."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import av
import pytest
from engine_helpers import current_states, fast_sandbox, load, run_config
from PIL import Image

from photogpt_batch.assets.sandbox_store import SandboxStore
from photogpt_batch.campaign import Campaign
from photogpt_batch.layout import ledger_path
from photogpt_batch.runner import ConfigError, RunConfig, run_campaign
from photogpt_batch.sandbox import SandboxThread
from photogpt_batch.spec.selection import select_jobs


def chain_spec(tmp_path: Path, shot2: str, shot1_options: str = "{duration: 4}", model2: str = "veo-3.1") -> Path:
    spec = tmp_path / "chain.yaml"
    spec.write_text(f"""version: 1
campaign: chain
output: {tmp_path / 'out'}
jobs:
  - id: shot-1
    model: seedance-2.0
    prompt: a fox in the snow
    options: {shot1_options}
  - id: shot-2
    model: {model2}
    prompt: the fox runs on
    options: {{duration: 4}}
{shot2}""", encoding="utf-8")
    return spec


FRAME_SHOT = "    referenceImages: [{{from: shot-1, frame: {frame}, role: first_frame}}]\n"


def with_store(sandbox: SandboxThread) -> RunConfig:
    config = run_config(sandbox)
    config.store = SandboxStore(sandbox.files_url, sandbox.sandbox.signed_url)
    return config


def only(campaign: Campaign, *patterns: str) -> Campaign:
    select_jobs(campaign, list(patterns))
    return campaign


def fetched(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def pixels(png: bytes) -> bytes:
    return Image.open(io.BytesIO(png)).convert("RGB").tobytes()


def decoded_frames(video: Path) -> list[bytes]:
    with av.open(str(video)) as container:
        return [f.to_image().convert("RGB").tobytes() for f in container.decode(video=0)]


def body_of(sandbox: SandboxThread, prompt: str) -> dict[str, Any]:
    [body] = [job.body for job in sandbox.jobs.values() if job.body.get("prompt") == prompt]
    return body


def test_shot_2_is_sent_the_last_frame_of_shot_1(tmp_path: Path) -> None:
    spec = chain_spec(tmp_path, FRAME_SHOT.format(frame="last"))
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        config = with_store(sandbox)
        assert run_campaign(only(load(spec), "shot-1"), config).videos_downloaded == 1
        assert run_campaign(load(spec), config).complete
        url = body_of(sandbox, "the fox runs on")["referenceImages"][0]["url"]
        assert url.startswith("http://127.0.0.1")  # a signed URL on the store, made just before the POST
        sent = fetched(url)
    assert sent.startswith(b"\x89PNG")
    assert pixels(sent) == decoded_frames(tmp_path / "out/shot-1/1.mp4")[-1]
    # The ledger keeps the reference with the upstream's hash, never a URL; the frame is kept for a rerun.
    with sqlite3.connect(ledger_path(tmp_path / "out")) as db:
        dump = "\n".join(db.iterdump())
    assert "output:shot-1@" in dump and "/store/" not in dump  # no signed URL of the store
    assert list((tmp_path / "out/.photogpt-batch/frames").glob("*.last.png"))


@pytest.mark.parametrize("frame, index", [("first", 0), ("0.45s", None)])
def test_the_first_frame_or_the_frame_at_a_time(tmp_path: Path, frame: str, index: int | None) -> None:
    spec = chain_spec(tmp_path, FRAME_SHOT.format(frame=frame))
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        config = with_store(sandbox)
        run_campaign(only(load(spec), "shot-1"), config)
        assert run_campaign(load(spec), config).complete
        sent = fetched(body_of(sandbox, "the fox runs on")["referenceImages"][0]["url"])
    video = tmp_path / "out/shot-1/1.mp4"
    frames = decoded_frames(video)
    if index is None:  # the frame showing at 0.45 s: the last one starting at or before it
        with av.open(str(video)) as container:
            times = [float(f.time) for f in container.decode(video=0)]
        index = max(i for i, t in enumerate(times) if t <= 0.45)
        assert 0 < index < len(frames) - 1
    assert pixels(sent) == frames[index]


def test_a_frame_past_the_end_sends_nothing_and_leaves_the_job_planned(tmp_path: Path) -> None:
    spec = chain_spec(tmp_path, FRAME_SHOT.format(frame="60s"))
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        config = with_store(sandbox)
        run_campaign(only(load(spec), "shot-1"), config)
        summary = run_campaign(load(spec), config)
        assert not summary.complete and not summary.failed
        assert len(sandbox.jobs) == 1  # shot-1's only
    assert current_states(tmp_path / "out") == {"succeeded": 1, "planned": 1}


def test_a_job_that_takes_an_output_waits_for_it_in_the_same_run(tmp_path: Path) -> None:
    # `from:` implies the need: shot-2 is sent only once shot-1's video is downloaded, in the same run.
    spec = chain_spec(tmp_path, FRAME_SHOT.format(frame="last"))
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        config = with_store(sandbox)
        first = run_campaign(load(spec), config)
        assert first.complete and not first.failed
        assert [job.body["prompt"] for job in sandbox.jobs.values()] == ["a fox in the snow", "the fox runs on"]
    assert current_states(tmp_path / "out") == {"succeeded": 2}


def test_the_models_returned_last_frame_is_preferred(tmp_path: Path) -> None:
    spec = chain_spec(tmp_path, FRAME_SHOT.format(frame="last"), "{duration: 4, returnLastFrame: true}")
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        config = with_store(sandbox)
        run_campaign(only(load(spec), "shot-1"), config)
        returned = tmp_path / "out/shot-1/1.last.png"
        assert returned.is_file()
        assert run_campaign(load(spec), config).complete
        sent = fetched(body_of(sandbox, "the fox runs on")["referenceImages"][0]["url"])
    assert sent == returned.read_bytes()
    assert not (tmp_path / "out/.photogpt-batch/frames").exists()  # nothing extracted


def test_a_reference_video_is_shot_1s_video(tmp_path: Path) -> None:
    spec = chain_spec(tmp_path, "    referenceVideos: [{from: shot-1}]\n", model2="seedance-2.0")
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        config = with_store(sandbox)
        run_campaign(only(load(spec), "shot-1"), config)
        assert run_campaign(load(spec), config).complete
        sent = fetched(body_of(sandbox, "the fox runs on")["referenceVideos"][0]["url"])
    assert sent == (tmp_path / "out/shot-1/1.mp4").read_bytes()


def test_from_without_a_store_is_refused_before_anything_is_sent(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHOTOGPT_BATCH_ASSETS", raising=False)
    spec = chain_spec(tmp_path, FRAME_SHOT.format(frame="last"))
    with SandboxThread(fast_sandbox()) as sandbox:
        with pytest.raises(ConfigError, match=r"other jobs' outputs.*no object store is configured"):
            run_campaign(load(spec), run_config(sandbox))
        assert not sandbox.jobs


@pytest.mark.slow
def test_pyav_is_loaded_only_to_take_a_frame() -> None:
    # FFmpeg's libraries cost every run ~16 MB of memory; only a job given another's frame needs them.
    code = ("import sys\nimport photogpt_batch.cli.run, photogpt_batch.runner, photogpt_batch.engine.pipeline\n"
            "print('av' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["False"]
