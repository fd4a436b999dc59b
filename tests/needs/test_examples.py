"""The pipeline examples in specs/, end to end on the sandbox: drafts.yaml (drafts, picks recorded through the
review's picks file, then exactly the finals of the picked drafts) and story.yaml's continuation (each shot sent
from the last frame of the one before, in one run)."""

from __future__ import annotations

import json
from pathlib import Path

import av
from click.testing import CliRunner
from engine_helpers import engine_options
from PIL import Image

from photogpt_batch import RunConfig, layout, load_campaign, run_campaign
from photogpt_batch.cli import cli
from photogpt_batch.ledger import Ledger
from photogpt_batch.review.data import review_page_data

SPECS = Path(__file__).resolve().parents[2] / "specs"


def copied(name: str, tmp_path: Path) -> Path:
    """``specs/<name>`` in ``tmp_path``, its output folder beside it."""
    spec = tmp_path / name
    text = (SPECS / name).read_text(encoding="utf-8")
    spec.write_text(text.replace(f"../out/{Path(name).stem}", "out"), encoding="utf-8")
    return spec


def sent_prompts(output: Path) -> dict[str, str]:
    """Each job the ledger holds as sent, with its prompt and resolution (what was paid for)."""
    with Ledger.open_for_reading(output) as ledger:
        return {r.job_id: ledger.body(r.row)["options"]["seedance"]["resolution"]
                for r in ledger.jobs() if r.remote_id}


def test_drafts_then_exactly_the_finals_of_the_picked_drafts(tmp_path: Path, fast_in_process_runs: None) -> None:
    spec = copied("drafts.yaml", tmp_path)
    config = RunConfig(sandbox=True, engine=engine_options())
    first = run_campaign(load_campaign(spec, hash_cache=tmp_path), config, install_signal_handlers=False)
    # The six drafts are made; the six finals wait for picks, which is not a failure.
    assert first.complete and not first.failed and len(first.waiting) == 6
    output = tmp_path / "out"
    assert sent_prompts(output) == {f"draft-{s}": "480p" for s in ("slate", "linen", "marble", "moss", "steel", "oak")}

    # A reviewer picks two drafts on the page and exports them; the file is recorded with `review --picks`.
    picks = tmp_path / "drafts-picks.json"
    picks.write_text(json.dumps({"format": "photogpt-batch-picks", "version": 1, "campaign": "drafts",
                                 "exportedAt": "2026-12-07T10:00:00.000Z",
                                 "picks": [{"job": "draft-oak", "pickedAt": "2026-12-07T09:59:00.000Z"},
                                           {"job": "draft-moss", "pickedAt": "2026-12-07T09:59:30.000Z"}]}),
                     encoding="utf-8")
    result = CliRunner().invoke(cli, ["review", str(spec), "--picks", str(picks)])
    assert result.exit_code == 0, result.output

    second = run_campaign(load_campaign(spec, hash_cache=tmp_path), config, install_signal_handlers=False)
    assert second.complete and len(second.waiting) == 4
    sent = sent_prompts(output)
    assert {job for job in sent if job.startswith("final-")} == {"final-oak", "final-moss"}
    assert sent["final-oak"] == "1080p"

    # The review page links each final to its draft.
    campaign = load_campaign(spec, hash_cache=tmp_path)
    with Ledger.open_for_reading(output) as ledger:
        jobs = {job["id"]: job for job in review_page_data(campaign, ledger)["jobs"]}
    assert [n["job"] for n in jobs["final-oak"]["needs"]] == ["draft-oak"]
    assert jobs["final-slate"]["needs"][0]["gate"] == "waiting for draft-slate to be picked"


def last_frame(video: Path) -> bytes:
    """The pixels of the video's last frame, decoded."""
    with av.open(str(video)) as container:
        *_, frame = container.decode(video=0)
        return frame.to_image().convert("RGB").tobytes()


def pixels(png: Path) -> bytes:
    return Image.open(png).convert("RGB").tobytes()


def test_the_story_continues_each_shot_from_the_last_frame_of_the_one_before(
        tmp_path: Path, fast_in_process_runs: None) -> None:
    spec = copied("story.yaml", tmp_path)
    summary = run_campaign(load_campaign(spec, hash_cache=tmp_path), RunConfig(sandbox=True, engine=engine_options()),
                           install_signal_handlers=False)
    assert summary.complete
    output = tmp_path / "out"
    with Ledger.open_for_reading(output) as ledger:
        records = {r.job_id: r for r in ledger.jobs()}
        refs = {job: ledger.body(records[job].row)["referenceImages"] for job in ("shot-2", "shot-3")}
    # Each shot was sent after the one before it was downloaded, and names it (with its content) in its identity.
    for before, after in (("shot-1", "shot-2"), ("shot-2", "shot-3")):
        downloaded = max(v.updated_at for v in records[before].videos)
        sent_at = records[after].submitted_at
        assert sent_at is not None and sent_at >= downloaded
        assert refs[after][0]["url"].startswith(f"output:{before}@")
    # The frame each shot was given is the last frame of the one before, extracted once as a PNG.
    for before in ("shot-1", "shot-2"):
        video = records[before].videos[0]
        assert video.sha256 is not None
        png = layout.frame_path(output, video.sha256, "last")
        assert pixels(png) == last_frame(output / layout.video_path(before, 1))
    assert (output / layout.sequence_path("story")).stat().st_size > 0
