"""`photogpt_batch.layout`, the one module that says where the tool's files go in an output folder: a real run puts
every file where it says, the names no job id may take are exactly those a run writes at the top of the folder,
and the module stays light enough for ``validate`` to import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import engine_options

from photogpt_batch import RunConfig, layout, load_campaign, run_campaign
from photogpt_batch.spec.ids import OUTPUT_NAMES

DEMO = Path(__file__).resolve().parents[1] / "specs" / "demo.yaml"


def test_a_run_writes_its_files_where_the_layout_says_and_only_reserved_names_at_the_top(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_in_process_runs: None) -> None:
    # Every name a run gives a file at the top of the output folder, temporary ones included (they are renamed
    # away before the run ends, so the folder's listing alone would miss them).
    output = tmp_path / "out"
    renamed: set[str] = set()
    real_replace = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str], **kwargs: object) -> None:
        for path in (Path(src), Path(dst)):
            if path.parent == output:
                renamed.add(path.name)
        real_replace(src, dst, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", replace)
    campaign = load_campaign(DEMO)
    campaign.output = output
    campaign.sequences = {"reel": ("hero", "first-frame")}  # both 16:9: joined into sequences/reel.mp4
    summary = run_campaign(campaign, RunConfig(sandbox=True, engine=engine_options()),
                           install_signal_handlers=False)
    assert summary.complete

    job_ids = {job.id for job in campaign.jobs}
    top = {path.name for path in output.iterdir()} | renamed
    # If a run ever writes another file beside the job folders, a job with that id could never be saved:
    # layout.TOP_LEVEL_NAMES (and so the spec's id check) must list it.
    assert top - job_ids == set(layout.TOP_LEVEL_NAMES) == set(OUTPUT_NAMES.values())
    for path in (layout.manifest_path(output), layout.page_path(output), layout.ledger_path(output),
                 layout.lock_path(output), layout.sandbox_jobs_path(output)):
        assert path.is_file(), path
    assert layout.ledger_dir(output).is_dir()
    # Each video at its path, the one job that asks for its last frames with each beside its video.
    expected = {layout.video_path(job.id, n) for job in campaign.jobs
                for n in range(1, job.body.get("numVideos", 1) + 1)}
    entries = [json.loads(line) for line in layout.manifest_path(output).read_text(encoding="utf-8").splitlines()]
    assert (output / layout.sequence_path("reel")).is_file()
    assert [e["path"] for e in entries if "sequence" in e] == [layout.sequence_path("reel")]
    entries = [e for e in entries if "sequence" not in e]
    assert {e["path"] for e in entries} == expected and all((output / rel).is_file() for rel in expected)
    frames = {e["lastFrame"] for e in entries if "lastFrame" in e}
    assert frames == {layout.last_frame_path(layout.video_path("first-frame", n)) for n in (1, 2)}
    assert all(layout.last_frame_saved(output, layout.video_path("first-frame", n)) for n in (1, 2))
    assert not list(output.rglob("*" + layout.PART_SUFFIX)) and not list(output.rglob("*" + layout.TMP_SUFFIX))


def test_paths_of_videos_versions_and_last_frames() -> None:
    assert layout.video_path("hero", 2) == "hero/2.mp4"
    assert layout.earlier_video_path("hero", 3, 1) == "hero/v3/1.mp4"
    assert layout.version_dir("hero", 3) == "hero/v3"
    assert layout.last_frame_path("hero/v3/1.mp4") == "hero/v3/1.last.png"
    assert layout.last_frame_path("1.mp4") == "1.last.png"
    assert layout.part_path(Path("/o/hero/1.mp4")) == Path("/o/hero/1.mp4.part")
    assert layout.tmp_path(Path("/o/manifest.jsonl")) == Path("/o/manifest.jsonl.tmp")
    assert layout.claim_path(Path("/o")) == Path("/o/.photogpt-batch/campaign")


def test_a_last_frame_that_is_a_link_is_not_saved(tmp_path: Path) -> None:
    (tmp_path / "hero").mkdir()
    (tmp_path / "elsewhere.png").write_bytes(b"png")
    (tmp_path / layout.last_frame_path("hero/1.mp4")).symlink_to(tmp_path / "elsewhere.png")
    assert not layout.last_frame_saved(tmp_path, "hero/1.mp4")
    assert not layout.last_frame_saved(tmp_path, "hero/2.mp4")


#: The modules a fresh interpreter holds after importing the named ones, of those the layout must not need.
_PROBE = ("import importlib, sys\nfor name in sys.argv[1:]: importlib.import_module(name)\n"
          "print(' '.join(sorted(m for m in sys.modules if m in {'asyncio', 'sqlite3', 'aiohttp'} "
          "or m.startswith(('photogpt_batch.engine', 'photogpt_batch.ledger', 'photogpt_batch.client')))))")


def heavy_after_importing(*modules: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", _PROBE, *modules], capture_output=True, text=True, check=True,
                          timeout=60)
    return set(done.stdout.split())


@pytest.mark.slow
def test_the_layout_and_the_spec_id_check_import_nothing_heavy() -> None:
    # `validate` checks ids against the layout's names: neither may load the engine, the ledger or the HTTP stack.
    assert heavy_after_importing("photogpt_batch.layout", "photogpt_batch.spec.ids") == set()

