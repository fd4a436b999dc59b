"""The views (``index.html``, ``manifest.jsonl``) are made only when what they are made from changed: a rerun with
nothing to do leaves both untouched without making them, and each change of their inputs (the ledger, the spec,
the files they show, the files themselves, their record) makes them again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import fast_sandbox, load, manifest, run_config
from views_helpers import Made, files, page_data

from photogpt_batch import manifest as manifest_module
from photogpt_batch.cli import cli
from photogpt_batch.engine.download import write_manifest
from photogpt_batch.io import stamps
from photogpt_batch.layout import views_path
from photogpt_batch.ledger import Ledger
from photogpt_batch.review import page as page_module
from photogpt_batch.review import record_picks, write_review_page
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread
from photogpt_batch.spec.selection import select_jobs


def spec_file(tmp_path: Path, extra_job: str = "", last_frame: bool = False) -> Path:
    spec = tmp_path / "vf.yaml"
    spec.write_text(f"""version: 1
campaign: vf
output: {tmp_path / 'out'}
jobs:
  - id: "m-{{ratio}}"
    model: grok-imagine-1.5
    prompt: "a {{ratio}} shot"
    matrix:
      ratio: ["9:16", "1:1"]
    options: {{aspectRatio: "{{ratio}}", duration: 2}}
  - id: shot
    model: seedance-2.0
    prompt: a slow push-in
    options: {{duration: 4, ratio: "9:16", returnLastFrame: {str(last_frame).lower()}}}
{extra_job}""", encoding="utf-8")
    return spec


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Made:
    return Made(monkeypatch)


def rerun(spec: Path, sandbox: SandboxThread, made: Made, *args: str) -> tuple[int, int]:
    made.reset()
    campaign = load(spec)
    select_jobs(campaign, list(args))  # --only
    assert run_campaign(campaign, run_config(sandbox)).complete
    return made.reset()


def test_a_rerun_with_nothing_to_do_neither_makes_nor_touches_the_views(tmp_path: Path, sandbox: SandboxThread,
                                                                         made: Made) -> None:
    spec = spec_file(tmp_path)
    out = tmp_path / "out"
    assert rerun(spec, sandbox, made) == (1, 1)
    before = files(out)
    assert rerun(spec, sandbox, made) == (0, 0)
    assert files(out) == before
    # Over and over: the record is still theirs.
    assert rerun(spec, sandbox, made) == (0, 0)
    assert files(out) == before
    assert set(json.loads(views_path(out).read_bytes())["views"]) == {"index.html", "manifest.jsonl"}


def test_a_change_of_the_spec_makes_the_views_again(tmp_path: Path, sandbox: SandboxThread, made: Made) -> None:
    spec = spec_file(tmp_path)
    out = tmp_path / "out"
    rerun(spec, sandbox, made)
    # A job added: sent, downloaded, shown.
    spec_file(tmp_path, extra_job="  - id: extra\n    model: veo-3.1-fast\n    prompt: one more\n")
    assert rerun(spec, sandbox, made) == (1, 1)
    assert "extra" in {job["id"] for job in page_data(out)["jobs"]}
    assert "extra/1.mp4" in {entry["path"] for entry in manifest(out)}
    # A prompt changed: a new version.
    spec.write_text(spec.read_text(encoding="utf-8").replace("one more", "one more, again"), encoding="utf-8")
    assert rerun(spec, sandbox, made) == (1, 1)
    assert {entry["path"] for entry in manifest(out)} >= {"extra/1.mp4", "extra/v1/1.mp4"}
    # Only the spec changed (the ledger and the files did not): a run of a selection shows the selection.
    assert rerun(spec, sandbox, made, "shot") == (1, 0)
    assert [job["id"] for job in page_data(out)["jobs"]] == ["shot"]
    assert rerun(spec, sandbox, made) == (1, 0)
    assert len(page_data(out)["jobs"]) == 4


def test_a_pick_recorded_is_on_the_next_page(tmp_path: Path, sandbox: SandboxThread, made: Made) -> None:
    spec = spec_file(tmp_path)
    out = tmp_path / "out"
    rerun(spec, sandbox, made)
    picks = tmp_path / "picks.json"
    picks.write_text(json.dumps({"format": "photogpt-batch-picks", "version": 1, "campaign": "vf",
                                 "picks": [{"job": "shot", "pickedAt": "2026-01-02T03:04:05Z"}]}))
    # Recorded as a library call, which writes no page: the next run's page has it.
    record_picks(load(spec), picks)
    assert rerun(spec, sandbox, made) == (1, 1)
    assert page_data(out)["picks"]["jobs"] == [{"job": "shot", "pickedAt": "2026-01-02T03:04:05Z"}]
    # Recorded with `review --picks`, which writes the page and records it: the next run keeps that page.
    picks.write_text(picks.read_text().replace('"shot"', '"m-1x1"'))
    made.reset()
    result = CliRunner().invoke(cli, ["review", str(spec), "--picks", str(picks)])
    assert result.exit_code == 0, result.output
    assert made.reset() == (1, 0)
    assert page_data(out)["picks"]["jobs"][0]["job"] == "m-1x1"
    before = files(out)["index.html"]
    assert rerun(spec, sandbox, made) == (0, 1)  # the manifest is the ledger's too: made again, the same
    assert files(out)["index.html"] == before


def test_the_review_command_always_makes_the_page_and_records_it(tmp_path: Path, sandbox: SandboxThread,
                                                                made: Made) -> None:
    spec = spec_file(tmp_path)
    out = tmp_path / "out"
    rerun(spec, sandbox, made)
    for _ in range(2):
        result = CliRunner().invoke(cli, ["review", str(spec)])
        assert result.exit_code == 0, result.output
        assert made.reset() == (1, 0)
    before = files(out)
    assert rerun(spec, sandbox, made) == (0, 0)
    assert files(out) == before


def test_a_write_through_another_connection_makes_the_views_again(tmp_path: Path, sandbox: SandboxThread,
                                                                  made: Made) -> None:
    spec = spec_file(tmp_path)
    out = tmp_path / "out"
    rerun(spec, sandbox, made)
    with Ledger.open_for_run(out) as other:  # another handle, as another process's would be
        row = other.job("m-1x1").row  # type: ignore[union-attr]
        other.set_meta("picks", json.dumps({"recordedAt": "now", "jobs": [{"job": "m-1x1"}]}))
        assert other.events(row)
    assert rerun(spec, sandbox, made) == (1, 1)
    assert page_data(out)["picks"]["jobs"] == [{"job": "m-1x1"}]


def test_a_last_frame_fetched_again_makes_the_views_again(tmp_path: Path, sandbox: SandboxThread,
                                                          made: Made) -> None:
    """A last frame is a file the ledger does not record: fetching one writes nothing to the ledger, and still
    the views, which show it, are made again."""
    spec = spec_file(tmp_path, last_frame=True)
    out = tmp_path / "out"
    rerun(spec, sandbox, made)
    (out / "shot/1.last.png").unlink()
    # The views made while it was missing (the review command; the manifest as the library writes it).
    assert CliRunner().invoke(cli, ["review", str(spec)]).exit_code == 0
    with Ledger.open_for_reading(out) as reader:
        write_manifest(out, reader, {})
    assert page_data(out)["jobs"][2]["videos"][0]["lastFrame"] is None
    assert "lastFrame" not in {key for entry in manifest(out) for key in entry}
    with Ledger.open_for_reading(out) as reader:
        revision = reader.revision()
        assert rerun(spec, sandbox, made) == (1, 1)
        assert reader.revision() == revision  # fetched without a write to the ledger
    assert (out / "shot/1.last.png").exists()
    assert page_data(out)["jobs"][2]["videos"][0]["lastFrame"] == "shot/1.last.png"
    assert [entry.get("lastFrame") for entry in manifest(out) if entry["job"] == "shot"] == ["shot/1.last.png"]


@pytest.mark.parametrize("view", ["index.html", "manifest.jsonl"])
def test_a_deleted_or_edited_view_is_made_again(tmp_path: Path, sandbox: SandboxThread, made: Made,
                                                view: str) -> None:
    spec = spec_file(tmp_path)
    out = tmp_path / "out"
    rerun(spec, sandbox, made)
    written = (out / view).read_bytes()
    expected = (1, 0) if view == "index.html" else (0, 1)
    (out / view).unlink()
    assert rerun(spec, sandbox, made) == expected
    assert (out / view).read_bytes() == written
    # Edited in place: its size and mtime change, its inode does not.
    with open(out / view, "ab") as f:
        f.write(b"\n")
    assert rerun(spec, sandbox, made) == expected
    assert (out / view).read_bytes() == written
    # Edited keeping its size (another mtime).
    with open(out / view, "r+b") as f:
        f.write(b"X")
    assert rerun(spec, sandbox, made) == expected
    assert (out / view).read_bytes() == written


@pytest.mark.parametrize("damage", [b"", b"not json", b'{"format": 99, "views": {}}', b'{"format": 1, "views": 3}',
                                    b'{"format": 1, "views": {"index.html": 3, "manifest.jsonl": {"inputs": 1}}}'])
def test_a_missing_or_damaged_record_makes_the_views_again(tmp_path: Path, sandbox: SandboxThread, made: Made,
                                                           damage: bytes) -> None:
    spec = spec_file(tmp_path)
    out = tmp_path / "out"
    rerun(spec, sandbox, made)
    views_path(out).write_bytes(damage)
    assert rerun(spec, sandbox, made) == (1, 1)
    assert rerun(spec, sandbox, made) == (0, 0)  # recorded again
    views_path(out).unlink()
    assert rerun(spec, sandbox, made) == (1, 1)


def test_the_record_is_forgotten_before_a_view_is_written(tmp_path: Path, sandbox: SandboxThread,
                                                          made: Made) -> None:
    """A crash while a view is written (here: an error) leaves no record of it, never the old one beside a new
    file: the next run makes it again."""
    spec = spec_file(tmp_path)
    out = tmp_path / "out"
    campaign = load(spec)
    rerun(spec, sandbox, made)

    def crash() -> None:
        assert "index.html" not in json.loads(views_path(out).read_bytes())["views"]
        (out / "index.html").write_text("half a page")
        raise OSError("the disk is full")

    with pytest.raises(OSError, match="disk is full"):
        stamps.write_view(out, "index.html", "another input", crash, reuse=False)
    recorded = json.loads(views_path(out).read_bytes())["views"]
    assert set(recorded) == {"manifest.jsonl"}
    assert rerun(spec, sandbox, made) == (1, 0)
    with Ledger.open_for_reading(out) as reader:
        assert stamps.is_fresh(out, "index.html", page_module.page_stamp(campaign, reader))


def test_the_record_can_be_missing_for_good_in_a_folder_it_cannot_be_written_to(
        tmp_path: Path, sandbox: SandboxThread, made: Made) -> None:
    """A record that cannot be written is no error: the views are then made (and found the same) every run, as
    before there was a record."""
    spec = spec_file(tmp_path)
    out = tmp_path / "out"
    rerun(spec, sandbox, made)
    views_path(out).unlink()
    views_path(out).mkdir()  # in the way: neither read nor replaced
    before = files(out)
    assert rerun(spec, sandbox, made) == (1, 1)
    assert rerun(spec, sandbox, made) == (1, 1)
    assert files(out) == before  # the same content: not written


def test_the_library_calls_make_the_views_unless_asked_to_reuse_them(tmp_path: Path, sandbox: SandboxThread,
                                                                     made: Made) -> None:
    spec = spec_file(tmp_path)
    out = tmp_path / "out"
    rerun(spec, sandbox, made)
    campaign = load(spec)
    with Ledger.open_for_reading(out) as reader:
        write_review_page(campaign, reader)
        assert write_manifest(out, reader, {})
        assert made.reset() == (1, 1)
        write_review_page(campaign, reader, reuse=True)
        assert not write_manifest(out, reader, {}, reuse=True)
        assert made.reset() == (0, 0)
        # The manifest's sequences are among its inputs (with their files).
        assert write_manifest(out, reader, {"story": ("shot",)}, reuse=True)
        assert manifest_module.stamp(reader, out, {}) != manifest_module.stamp(reader, out, {"story": ("shot",)})
