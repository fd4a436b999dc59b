"""Last frames: a job asking for returnLastFrame gets each video's last frame saved beside it, in the manifest."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import check_outputs, fast_sandbox, load, manifest, run_config

from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread

PNG = b"\x89PNG\r\n\x1a\n"


def seedance_campaign(tmp_path: Path, last_frame: bool = True, num_videos: int = 2) -> Path:
    spec = tmp_path / "lf.yaml"
    spec.write_text(f"""version: 1
campaign: lf
output: {tmp_path / 'out'}
jobs:
  - id: shot
    model: seedance-2.0
    prompt: a slow push-in
    numVideos: {num_videos}
    options: {{duration: 4, ratio: "9:16", returnLastFrame: {str(last_frame).lower()}}}
  - id: plain
    model: seedance-2.0
    prompt: no last frame here
""", encoding="utf-8")
    return spec


@pytest.fixture
def sandbox():
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


def test_last_frames_are_saved_beside_their_videos_and_listed_in_the_manifest(
    tmp_path: Path, sandbox: SandboxThread
) -> None:
    summary = run_campaign(load(seedance_campaign(tmp_path)), run_config(sandbox))
    assert summary.complete
    out = tmp_path / "out"
    entries = {e["path"]: e for e in check_outputs(out, 3)}
    for n in (1, 2):
        assert (out / f"shot/{n}.last.png").read_bytes().startswith(PNG)
        assert entries[f"shot/{n}.mp4"]["lastFrame"] == f"shot/{n}.last.png"
    assert "lastFrame" not in entries["plain/1.mp4"]
    assert not list(out.glob("plain/*.png"))


def test_a_missing_last_frame_is_fetched_again_by_the_next_run_without_paying(
    tmp_path: Path, sandbox: SandboxThread
) -> None:
    spec = seedance_campaign(tmp_path)
    run_campaign(load(spec), run_config(sandbox))
    out = tmp_path / "out"
    (out / "shot/2.last.png").unlink()
    posts = sandbox.counters.requests["POST /videos/generation"]
    summary = run_campaign(load(spec), run_config(sandbox))
    assert summary.complete and sandbox.counters.requests["POST /videos/generation"] == posts
    assert (out / "shot/2.last.png").read_bytes().startswith(PNG)


def test_a_rerun_with_every_last_frame_present_asks_nothing(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = seedance_campaign(tmp_path)
    run_campaign(load(spec), run_config(sandbox))
    gets = sandbox.counters.requests.get("GET /jobs/{id}", 0)
    run_campaign(load(spec), run_config(sandbox))
    assert sandbox.counters.requests.get("GET /jobs/{id}", 0) == gets


def test_an_earlier_versions_last_frame_moves_with_its_video(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = seedance_campaign(tmp_path, num_videos=1)
    run_campaign(load(spec), run_config(sandbox))
    out = tmp_path / "out"
    first = (out / "shot/1.last.png").read_bytes()
    spec.write_text(spec.read_text().replace("returnLastFrame: true", "returnLastFrame: false"))
    assert run_campaign(load(spec), run_config(sandbox)).complete
    # The new version asked for none: nothing beside its video; the earlier one's went along to v1/.
    assert not (out / "shot/1.last.png").exists()
    assert (out / "shot/v1/1.last.png").read_bytes() == first
    entries = {e["path"]: e for e in manifest(out)}
    assert entries["shot/v1/1.mp4"]["lastFrame"] == "shot/v1/1.last.png" and "lastFrame" not in entries["shot/1.mp4"]


def test_a_video_fetched_again_gets_its_last_frame_again(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = seedance_campaign(tmp_path, num_videos=1)
    run_campaign(load(spec), run_config(sandbox))
    out = tmp_path / "out"
    (out / "shot/1.mp4").write_bytes(b"damaged")
    (out / "shot/1.last.png").write_bytes(b"stale")
    assert run_campaign(load(spec), run_config(sandbox)).complete
    assert (out / "shot/1.last.png").read_bytes().startswith(PNG)
