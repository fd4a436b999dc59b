"""``--only picked`` and ``--only unpicked``: plan, run and status select by the picks recorded in the ledger
(``review --picks``), on a folder's ledger and on the shared one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from engine_helpers import engine_options, fast_sandbox, posts

import photogpt_batch.engine
from photogpt_batch.cli import cli
from photogpt_batch.ledger import ledger_path
from photogpt_batch.sandbox import SandboxThread

ALL = ["m-9x16", "m-1x1", "single"]


def spec_file(tmp_path: Path, prompt: str = "a {ratio} shot") -> Path:
    """Three jobs: ``m-9x16`` and ``m-1x1`` (a matrix over ratio) and ``single``."""
    spec = tmp_path / "rv.yaml"
    spec.write_text(f"""version: 1
campaign: rv
output: {tmp_path / 'out'}
jobs:
  - id: "m-{{ratio}}"
    model: grok-imagine-1.5
    prompt: {json.dumps(prompt)}
    matrix:
      ratio: ["9:16", "1:1"]
    options: {{aspectRatio: "{{ratio}}", duration: 2}}
  - id: single
    model: veo-3.1-fast
    prompt: {json.dumps(prompt.replace("{ratio}", "lone"))}
""", encoding="utf-8")
    return spec


@pytest.fixture
def sandbox():
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


def invoke(sandbox: SandboxThread | None, *args: str) -> Result:
    env = {"PHOTOGPT_API_KEY": "test-key", "PHOTOGPT_BASE_URL": sandbox.base_url if sandbox else None,
           "PHOTOGPT_BATCH_LEDGER": None}
    # Polls and downloads at the tests' intervals (as `cli_in_process.run_main` does): the same requests, sooner.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(photogpt_batch.engine, "EngineOptions", engine_options)
        return CliRunner().invoke(cli, list(args), env=env)


def run_all(sandbox: SandboxThread, spec: Path, *extra: str) -> None:
    result = invoke(sandbox, "run", str(spec), "--rate", "1000", "--quiet", *extra)
    assert result.exit_code == 0, result.output


def record(tmp_path: Path, spec: Path, jobs: list[str], *extra: str) -> None:
    """Picks recorded the real way: the page's export file, through ``review --picks``."""
    path = tmp_path / "rv-picks.json"
    path.write_text(json.dumps({"format": "photogpt-batch-picks", "version": 1, "campaign": "rv",
                                "picks": [{"job": j, "pickedAt": "2026-01-02T03:04:05Z"} for j in jobs]}))
    result = invoke(None, "review", str(spec), "--picks", str(path), *extra)
    assert result.exit_code == 0, result.output


def plan_ids(spec: Path, *args: str) -> tuple[list[str], list[str]]:
    """The ids ``plan --json`` selects and the ids it skips."""
    result = invoke(None, "plan", str(spec), "--json", *args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    return [job["id"] for job in data["jobs"]], data["skipped"]


def status_ids(spec: Path, *args: str) -> list[str]:
    result = invoke(None, "status", str(spec), "--json", *args)
    assert result.exit_code in (0, 1), result.output
    return [job["id"] for job in json.loads(result.stdout)["jobs"]]


def test_plan_and_status_select_the_recorded_picks_or_the_others(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = spec_file(tmp_path)
    run_all(sandbox, spec)
    record(tmp_path, spec, ["m-1x1"])

    assert plan_ids(spec, "--only", "picked") == (["m-1x1"], ["m-9x16", "single"])
    assert plan_ids(spec, "--only", "unpicked") == (["m-9x16", "single"], ["m-1x1"])
    assert status_ids(spec, "--only", "picked") == ["m-1x1"]
    assert status_ids(spec, "--only", "unpicked") == ["m-9x16", "single"]
    # Combined with other patterns as any --only: a job any pattern selects.
    assert plan_ids(spec, "--only", "picked", "--only", "single")[0] == ["m-1x1", "single"]
    assert plan_ids(spec, "--only", "unpicked", "--only", "model=grok-*")[0] == ALL
    assert plan_ids(spec, "--only", "picked", "--only", "unpicked")[0] == ALL
    # Recording replaces the picks: the selection follows the ledger.
    record(tmp_path, spec, ["m-9x16", "single"])
    assert plan_ids(spec, "--only", "picked")[0] == ["m-9x16", "single"]
    assert "skipped" in invoke(None, "status", str(spec), "--only", "unpicked").output


def test_run_only_unpicked_sends_exactly_the_unpicked_jobs(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = spec_file(tmp_path)
    run_all(sandbox, spec)
    record(tmp_path, spec, ["m-1x1"])
    spec_file(tmp_path, prompt="a {ratio} shot, reworked")  # every job changed: a full run would resend all three
    sent = posts(sandbox)

    run_all(sandbox, spec, "--only", "unpicked")

    assert posts(sandbox) == sent + 2
    states = {job["id"]: job["state"] for job in json.loads(invoke(None, "plan", str(spec), "--json").stdout)["jobs"]}
    assert states == {"m-9x16": "done", "m-1x1": "changed", "single": "done"}
    run_all(sandbox, spec, "--only", "picked")
    assert posts(sandbox) == sent + 3


def test_a_selection_that_leaves_nothing_is_refused(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = spec_file(tmp_path)
    run_all(sandbox, spec)
    record(tmp_path, spec, ALL)
    sent = posts(sandbox)
    result = invoke(sandbox, "run", str(spec), "--only", "unpicked", "--fresh")
    assert result.exit_code == 2 and "every one of its jobs is picked" in result.stderr
    record(tmp_path, spec, [])
    result = invoke(None, "plan", str(spec), "--only", "picked")
    assert result.exit_code == 2 and "name none of its jobs" in result.stderr
    assert posts(sandbox) == sent


@pytest.mark.parametrize("command", ["plan", "status", "run"])
def test_no_picks_recorded_is_a_clear_usage_error_and_sends_nothing(tmp_path: Path, sandbox: SandboxThread,
                                                                    command: str) -> None:
    spec = spec_file(tmp_path)
    for pattern in ("picked", "unpicked"):  # a campaign that never ran: no ledger at all
        result = invoke(sandbox, command, str(spec), "--only", pattern)
        assert result.exit_code == 2, result.output
        assert "no picks are recorded for campaign 'rv'" in result.stderr and "review SPEC --picks" in result.stderr
        assert "Traceback" not in result.output
    assert posts(sandbox) == 0 and not ledger_path(tmp_path / "out").exists()
    run_all(sandbox, spec)  # it ran, but nobody recorded picks: unpicked must not mean every job
    result = invoke(sandbox, command, str(spec), "--only", "unpicked", "--fresh" if command == "run" else "--json")
    assert result.exit_code == 2 and "no picks are recorded" in result.stderr
    assert posts(sandbox) == 3


def test_an_unreadable_ledger_is_a_clear_usage_error(tmp_path: Path) -> None:
    spec = spec_file(tmp_path)
    path = ledger_path(tmp_path / "out")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    for command in ("plan", "status", "run"):
        result = invoke(None, command, str(spec), "--only", "picked")
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: --only picked/unpicked:") and "Traceback" not in result.output


def test_review_refuses_to_record_picks_filtered_by_the_old_ones(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = spec_file(tmp_path)
    run_all(sandbox, spec)
    record(tmp_path, spec, ["m-1x1"])
    result = invoke(None, "review", str(spec), "--picks", str(tmp_path / "rv-picks.json"), "--only", "picked")
    assert result.exit_code == 2 and "without --only picked/unpicked" in result.stderr


@pytest.mark.slow  # starts PostgreSQL
def test_on_the_shared_ledger_the_shared_picks_select(tmp_path: Path, sandbox: SandboxThread, pg_url: str) -> None:
    spec = spec_file(tmp_path)
    run_all(sandbox, spec, "--ledger", pg_url)
    record(tmp_path, spec, ["single"], "--ledger", pg_url)

    assert plan_ids(spec, "--only", "picked", "--ledger", pg_url)[0] == ["single"]
    assert status_ids(spec, "--only", "unpicked", "--ledger", pg_url) == ["m-9x16", "m-1x1"]
    spec_file(tmp_path, prompt="again {ratio}")
    sent = posts(sandbox)
    run_all(sandbox, spec, "--only", "picked", "--ledger", pg_url)
    assert posts(sandbox) == sent + 1
    # The folder's own ledger is not the shared one: it holds no picks.
    result = invoke(None, "plan", str(spec), "--only", "picked")
    assert result.exit_code == 2 and "no picks are recorded" in result.stderr
