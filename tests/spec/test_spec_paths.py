"""Paths written in a spec are relative to the spec's folder (as in Docker Compose); ``--output`` on the
command line is relative to the working directory; plan, run and status print the folder they use."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from photogpt_batch.cli import cli
from photogpt_batch.runner import RunConfig, run_campaign
from photogpt_batch.spec.load import load_campaign

ROOT = Path(__file__).resolve().parents[2]
SPEC = """version: 1
campaign: launch
{output}defaults: {{model: grok-imagine-1.5, options: {{duration: 3}}}}
jobs:
  - id: "clip-{{i}}"
    prompt: "shot {{i}}"
    matrix: {{i: [1, 2]}}
"""


def _spec(tmp_path: Path, output: str | None = "out/launch") -> Path:
    folder = tmp_path / "campaigns"
    folder.mkdir(exist_ok=True)
    spec = folder / "launch.yaml"
    spec.write_text(SPEC.format(output=f"output: {output}\n" if output else ""))
    return spec


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"PHOTOGPT_API_KEY": None})
    return result.exit_code, result.stdout, result.stderr


def test_the_output_written_in_a_spec_is_relative_to_the_spec_whatever_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(tmp_path)
    for cwd in (tmp_path, spec.parent, tmp_path / "elsewhere"):
        cwd.mkdir(exist_ok=True)
        monkeypatch.chdir(cwd)
        relative = Path("..") / "campaigns" / "launch.yaml" if cwd.name == "elsewhere" else spec
        assert load_campaign(relative).output == tmp_path / "campaigns" / "out" / "launch"


def test_the_default_output_is_out_slash_campaign_beside_the_spec(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(tmp_path, output=None)
    monkeypatch.chdir(tmp_path)
    assert load_campaign("campaigns/launch.yaml").output == spec.parent / "out" / "launch"


def test_dot_dot_and_absolute_outputs_resolve_as_written(tmp_path: Path) -> None:
    assert load_campaign(_spec(tmp_path, "../videos")).output == tmp_path / "videos"
    assert load_campaign(_spec(tmp_path, str(tmp_path / "abs"))).output == tmp_path / "abs"


def test_output_on_the_command_line_is_relative_to_the_working_directory_and_printed_resolved(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, out, _ = _cli("plan", str(spec), "--output", "mine")
    assert code == 0
    assert out.splitlines()[-2].endswith(f"; output {tmp_path / 'mine'}")
    code, out, _ = _cli("status", str(spec))
    assert out.splitlines()[-2].endswith(f"output {spec.parent / 'out' / 'launch'}")


def test_plan_from_another_folder_sees_what_a_run_did(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_in_process_runs: None) -> None:
    # The new user's first week: run from the spec's folder, then plan from the repository's top.
    spec = _spec(tmp_path)
    monkeypatch.chdir(spec.parent)
    assert run_campaign(load_campaign("launch.yaml"), RunConfig(sandbox=True, requests_per_second=1000)).complete
    monkeypatch.chdir(tmp_path)
    code, out, _ = _cli("plan", "campaigns/launch.yaml")
    assert code == 0
    assert out.splitlines()[-2] == f"launch: 2 jobs (2 done); output {spec.parent / 'out' / 'launch'}"


def test_the_demo_lands_in_out_demo_at_the_top_of_the_repository_from_anywhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert load_campaign("specs/demo.yaml").output == ROOT / "out" / "demo"
    monkeypatch.chdir(tmp_path)
    assert load_campaign(ROOT / "specs" / "demo.yaml").output == ROOT / "out" / "demo"


def test_every_example_spec_writes_below_an_ignored_out_folder() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "out/" in ignored  # matches an out/ folder at any depth: specs/out/ as well as out/
    for spec in sorted((ROOT / "specs").glob("*.yaml")):
        assert "out" in load_campaign(spec).output.relative_to(ROOT).parts[:2], spec
