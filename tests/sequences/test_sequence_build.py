"""Sequences joined with PyAV (a remux of matching clips, a re-encode of mismatching ones, different ratios
refused), and a real sandbox run of specs/story.yaml: written once every job is done, skipped when unchanged,
rebuilt when a clip changes, listed by status and the manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import av
import pytest
from engine_helpers import engine_options

from photogpt_batch import RunConfig, layout, load_campaign, run_campaign
from photogpt_batch.sandbox.picture import Picture, render
from photogpt_batch.sequences.join import JoinRefused, join
from photogpt_batch.sequences.state import sequence_states
from photogpt_batch.views.status import read_status
from photogpt_batch.views.status_render import status_json

STORY = Path(__file__).resolve().parents[2] / "specs" / "story.yaml"


def on_sandbox() -> RunConfig:
    """The built-in sandbox (as ``--sandbox``), polled at the tests' intervals: the same requests, sooner."""
    return RunConfig(sandbox=True, engine=engine_options())


def sandbox_clip(path: Path, prompt: str, seconds: int) -> Path:
    path.write_bytes(render(Picture("m", prompt, "16:9", seconds, None, 1, 1))[0])
    return path


def made_clip(path: Path, size: tuple[int, int], frames: int, rate: int = 8) -> Path:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame(size[0], size[1], "yuv420p")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def decoded(path: Path) -> tuple[int, tuple[int, int], float]:
    """(frames, size, seconds) of the video at ``path``, decoded."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(video=0))
        last = frames[-1]
        assert last.pts is not None and last.time_base is not None
        seconds = float((last.pts + 1 / (stream.average_rate or 8) / last.time_base) * last.time_base)
        return len(frames), (stream.width, stream.height), seconds


def joined(tmp_path: Path, clips: list[Path]) -> tuple[str, Path]:
    out = tmp_path / "joined.mp4"
    with open(out, "w+b") as f:
        how = join([(p.stem, p) for p in clips], f)
    return how, out


def test_matching_clips_are_remuxed_in_order_with_every_frame(tmp_path: Path) -> None:
    clips = [sandbox_clip(tmp_path / f"{n}.mp4", f"shot {n}", s) for n, s in ((1, 4), (2, 8), (3, 12))]
    how, out = joined(tmp_path, clips)
    assert how == "remux"
    assert decoded(out)[:2] == (8 + 16 + 24, (320, 180))
    assert decoded(out)[2] == pytest.approx(6.0, abs=0.2)


def test_clips_of_other_sizes_or_rates_are_re_encoded_at_the_first_ones(tmp_path: Path) -> None:
    clips = [made_clip(tmp_path / "a.mp4", (320, 180), 8), made_clip(tmp_path / "b.mp4", (640, 360), 12, rate=12),
             made_clip(tmp_path / "c.mp4", (320, 180), 4)]
    how, out = joined(tmp_path, clips)
    assert how == "re-encode"
    assert decoded(out)[:2] == (24, (320, 180))


def test_clips_of_different_ratios_are_refused_naming_them(tmp_path: Path) -> None:
    clips = [made_clip(tmp_path / "wide.mp4", (320, 180), 4), made_clip(tmp_path / "tall.mp4", (180, 320), 4)]
    with pytest.raises(JoinRefused, match=r"different ratios \(wide 320x180, tall 180x320\)"):
        joined(tmp_path, clips)


def test_the_story_runs_on_the_sandbox_and_its_sequence_is_rebuilt_only_when_a_clip_changes(
        tmp_path: Path, fast_in_process_runs: None) -> None:
    spec = tmp_path / "story.yaml"
    spec.write_text(STORY.read_text(encoding="utf-8").replace("../out/story", "out"), encoding="utf-8")
    campaign = load_campaign(spec, hash_cache=tmp_path)
    output = campaign.output
    assert sequence_states(output, campaign.sequences, [])[0].waiting == ("shot-1", "shot-2", "shot-3")
    assert run_campaign(campaign, on_sandbox(), install_signal_handlers=False).complete

    film = output / layout.sequence_path("story")
    clips = [decoded(output / layout.video_path(f"shot-{n}", 1)) for n in (1, 2, 3)]
    frames, size, seconds = decoded(film)
    assert frames == sum(c[0] for c in clips) and size == clips[0][1]
    assert seconds == pytest.approx(sum(c[2] for c in clips), abs=0.2)
    lines = [json.loads(line) for line in layout.manifest_path(output).read_text(encoding="utf-8").splitlines()]
    data = film.read_bytes()
    assert lines[-1] == {"sequence": "story", "path": "sequences/story.mp4", "bytes": len(data),
                         "sha256": hashlib.sha256(data).hexdigest(), "jobs": ["shot-1", "shot-2", "shot-3"]}
    report = status_json(read_status(campaign))
    assert report["sequences"] == [{"name": "story", "state": "built", "path": "sequences/story.mp4",
                                    "jobs": ["shot-1", "shot-2", "shot-3"], "waitingFor": []}]
    assert not list(output.rglob("*" + layout.TMP_SUFFIX))

    # A rerun with nothing changed leaves the file alone (same inode, same time).
    before = film.stat()
    run_campaign(load_campaign(spec, hash_cache=tmp_path), on_sandbox(), install_signal_handlers=False)
    after = film.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert json.loads(layout.manifest_path(output).read_text(encoding="utf-8").splitlines()[-1])["sequence"] == "story"

    # Shot 2 changes: its new version's video replaces the clip, and the sequence is built again from it.
    spec.write_text(spec.read_text(encoding="utf-8").replace("sweeps across the dark sea", "sweeps the bay"),
                    encoding="utf-8")
    changed = load_campaign(spec, hash_cache=tmp_path)
    run_campaign(changed, on_sandbox(), install_signal_handlers=False)
    record = json.loads((output / layout.sequence_record_path("story")).read_text(encoding="utf-8"))
    new_clip = hashlib.sha256((output / layout.video_path("shot-2", 1)).read_bytes()).hexdigest()
    assert record["clips"][1] == new_clip and record["sha256"] == hashlib.sha256(film.read_bytes()).hexdigest()
    assert film.read_bytes() != data
    assert read_status(changed).sequences[0].standing == "built"
