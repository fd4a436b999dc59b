"""``--only PATTERN`` on plan, run and status: jobs by id glob or axis value; the rest untouched, skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import fast_sandbox, load, posts, run_config, write_campaign

from photogpt_batch.cli import cli
from photogpt_batch.ledger import Ledger
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread
from photogpt_batch.selection import SelectionError, select_jobs
from photogpt_batch.validation import load_campaign

DEMO = Path(__file__).resolve().parents[1] / "specs" / "demo.yaml"


@pytest.fixture
def sandbox():
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


def _selected(*patterns: str) -> tuple[list[str], list[str]]:
    campaign = load_campaign(DEMO)
    select_jobs(campaign, patterns)
    return [job.id for job in campaign.jobs], campaign.skipped


@pytest.mark.parametrize(("patterns", "ids"), [
    (("social-*",), ["social-9x16", "social-1x1"]),
    (("hero",), ["hero"]),
    (("ratio=9:16",), ["social-9x16"]),
    (("model=veo-3.1-fast",), ["hero"]),
    (("model=seedance-*",), ["first-frame"]),
    (("hero", "ratio=1:1"), ["hero", "social-1x1"]),  # any pattern selects
])
def test_jobs_are_selected_by_id_glob_or_axis_value(patterns: tuple[str, ...], ids: list[str]) -> None:
    selected, skipped = _selected(*patterns)
    assert selected == ids
    assert sorted(selected + skipped) == sorted(["hero", "first-frame", "social-9x16", "social-1x1"])


@pytest.mark.parametrize(("pattern", "hint"), [
    ("heor", "did you mean 'hero'?"),
    ("ratoi=9:16", "did you mean 'ratio'?"),
    ("ratio=16:9", "ratio takes the values 1:1, 9:16"),
    ("model=veo-3.1", "did you mean model=veo-3.1-fast?"),
])
def test_a_pattern_that_matches_nothing_is_an_error_with_a_suggestion(pattern: str, hint: str) -> None:
    with pytest.raises(SelectionError, match="no job of campaign 'demo' matches") as caught:
        _selected("hero", pattern)
    assert hint in str(caught.value)


@pytest.mark.parametrize("command", ["plan", "run", "status"])
def test_the_cli_exits_2_for_a_pattern_that_matches_nothing(tmp_path: Path, command: str) -> None:
    result = CliRunner().invoke(cli, [command, str(DEMO), "--output", str(tmp_path / "o"), "--only", "heor"],
                                env={"PHOTOGPT_API_KEY": None})
    assert result.exit_code == 2
    assert "did you mean 'hero'?" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_run_only_sends_the_selected_jobs_and_leaves_the_others_untouched(tmp_path: Path,
                                                                         sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=4)
    campaign = load(spec)
    select_jobs(campaign, ["clip-1", "i=3"])
    summary = run_campaign(campaign, run_config(sandbox))
    assert summary.complete and summary.jobs == 2
    assert posts(sandbox) == 2
    with Ledger.open_for_reading(tmp_path / "out") as ledger:
        assert sorted(r.job_id for r in ledger.jobs()) == ["clip-1", "clip-3"]
    # The rest later: only they are sent.
    assert run_campaign(load(spec), run_config(sandbox)).complete
    assert posts(sandbox) == 4


def test_a_changed_job_left_out_is_not_sent_again(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    run_campaign(load(spec), run_config(sandbox))
    spec.write_text(spec.read_text().replace("duration: 3", "duration: 4"))
    campaign = load(spec)
    select_jobs(campaign, ["clip-2"])
    run_campaign(campaign, run_config(sandbox))
    assert posts(sandbox) == 3
    with Ledger.open_for_reading(tmp_path / "out") as ledger:
        assert len(ledger.versions("clip-1")) == 1 and len(ledger.versions("clip-2")) == 2


def test_plan_and_status_show_only_the_selected_jobs_and_count_the_skipped(tmp_path: Path,
                                                                          sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=3)
    run_campaign(load(spec), run_config(sandbox))  # in the ledger, the jobs left out are not orphans
    plan = CliRunner().invoke(cli, ["plan", str(spec), "--only", "clip-2"])
    assert plan.exit_code == 0
    assert plan.stdout.splitlines()[0].split()[:2] == ["done", "clip-2"]
    assert plan.stdout.splitlines()[-1].startswith("t: 1 jobs (1 done), 2 skipped (--only); output")
    as_json = json.loads(CliRunner().invoke(cli, ["plan", "--json", str(spec), "--only", "clip-2"]).stdout)
    assert ([j["id"] for j in as_json["jobs"]], as_json["skipped"], as_json["orphaned"]) == (
        ["clip-2"], ["clip-1", "clip-3"], [])
    status = json.loads(CliRunner().invoke(cli, ["status", "--json", str(spec), "--only", "clip-[12]"]).stdout)
    assert [j["id"] for j in status["jobs"]] == ["clip-1", "clip-2"]
    assert status["videos"] == {"downloaded": 2} and status["skipped"] == ["clip-3"]
