"""The shared ledger reaches every command that reads or writes a ledger: ``review`` (the page and
``--picks``), ``doctor`` (where the ledger is, whether it answers, who holds the lock) and the prices that
``plan`` and ``run`` learn (from the other campaigns in the same database)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from engine_helpers import fast_sandbox, load, run_config, write_campaign
from pg_server import PASSWORD, Cluster

from photogpt_batch.cli import cli
from photogpt_batch.ledger import Ledger, ledger_path
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread
from photogpt_batch.views.plan import make_plan

# A PostgreSQL cluster of its own (initdb, pg_ctl): processes.
pytestmark = pytest.mark.slow


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def run_shared(spec: Path, url: str) -> None:
    with SandboxThread(fast_sandbox()) as sandbox:
        config = run_config(sandbox)
        config.ledger_url = url
        assert run_campaign(load(spec), config, install_signal_handlers=False).complete


def test_picks_recorded_with_ledger_show_in_its_status_and_page(tmp_path: Path, pg_url: str) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    run_shared(spec, pg_url)
    picks = tmp_path / "picks.json"
    picks.write_text(json.dumps({"format": "photogpt-batch-picks", "version": 1, "campaign": "t",
                                 "picks": [{"job": "clip-2", "pickedAt": "2026-01-02T03:04:05Z"}]}))
    result = invoke("review", str(spec), "--picks", str(picks), "--ledger", pg_url)
    assert result.exit_code == 0, result.output
    assert not ledger_path(tmp_path / "out").exists()  # nothing went to a folder ledger
    status = json.loads(invoke("status", str(spec), "--ledger", pg_url, "--json").stdout)
    assert status["picks"]["jobs"] == [{"job": "clip-2", "pickedAt": "2026-01-02T03:04:05Z"}]
    page = (tmp_path / "out" / "index.html").read_text()
    assert '"clip-2"' in page and "succeeded" in page  # the page shows the shared ledger's jobs and picks
    assert PASSWORD not in page


def test_picks_for_a_campaign_the_shared_ledger_never_ran_are_refused(tmp_path: Path, pg_url: str) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    picks = tmp_path / "picks.json"
    picks.write_text(json.dumps({"format": "photogpt-batch-picks", "campaign": "t", "picks": [{"job": "clip-1"}]}))
    result = invoke("review", str(spec), "--picks", str(picks), "--ledger", pg_url)
    assert result.exit_code == 2 and "has no jobs in" in result.output and PASSWORD not in result.output


def test_review_reads_the_ledger_from_the_environment(tmp_path: Path, pg_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    run_shared(spec, pg_url)
    monkeypatch.setenv("PHOTOGPT_BATCH_LEDGER", pg_url)
    assert invoke("review", str(spec)).exit_code == 0
    data = (tmp_path / "out" / "index.html").read_text()
    assert '"succeeded"' in data  # without the shared ledger the job would read as never submitted


def doctor_ledger(spec: Path, url: str) -> tuple[Result, dict]:
    result = invoke("doctor", "--sandbox", "--json", str(spec), "--ledger", url)
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    return result, checks["ledger"]


def test_doctor_reports_the_shared_ledger_and_its_lock_holder(tmp_path: Path, pg_url: str) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    result, check = doctor_ledger(spec, pg_url)
    assert result.exit_code == 0 and check["verdict"] == "ok", result.output
    assert "127.0.0.1" in check["summary"] and "campaign t" in check["summary"] and "not locked" in check["summary"]
    assert PASSWORD not in result.output

    with Ledger.open_for_run(tmp_path / "out", url=pg_url, campaign="t"):
        result, check = doctor_ledger(spec, pg_url)
    assert check["verdict"] == "warn" and f"pid {os.getpid()}" in check["summary"], check
    assert PASSWORD not in result.output


def test_a_wrong_password_is_a_failed_check_with_advice(tmp_path: Path, pg_cluster: Cluster) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    wrong = pg_cluster.url(pg_cluster.new_database()).replace(PASSWORD, "not-the-Pa55word")
    result, check = doctor_ledger(spec, wrong)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # an exit, not a crash
    assert check["verdict"] == "fail" and "refused the login" in check["summary"] and check["advice"]
    assert "not-the-Pa55word" not in result.output and "Traceback" not in result.output

    text = invoke("doctor", "--sandbox", str(spec), "--ledger", wrong)
    assert text.exit_code == 1 and "fail  ledger" in text.output and "not-the-Pa55word" not in text.output


def test_a_campaign_without_history_is_priced_from_other_campaigns_in_the_shared_ledger(
        tmp_path: Path, pg_url: str) -> None:
    older = tmp_path / "older"
    older.mkdir()
    run_shared(write_campaign(older, jobs=2, name="older"), pg_url)
    newer = tmp_path / "newer"
    newer.mkdir()
    campaign = load(write_campaign(newer, jobs=3, name="newer"))
    per_video = 6  # what the sandbox charges: grok-imagine-1.5 at duration 3, 2 credits/s x 3 s
    with Ledger.open_for_reading(older / "out", url=pg_url, campaign="older") as ledger:
        assert {record.credits for record in ledger.jobs()} == {per_video}
        assert list(ledger.paid_by_other_campaigns()) == []  # its own jobs are not "other"

    # The older campaign's folder holds no ledger of its own: only the shared ledger knows its prices.
    assert not ledger_path(older / "out").exists()
    plan = make_plan(campaign, pg_url)
    assert plan.estimate().to_json() == {"credits": 3 * per_video, "priced": 3, "unknown": 0}
    assert make_plan(campaign, pg_url, other_ledgers=False).estimate().to_json() == {
        "credits": None, "priced": 0, "unknown": 3}


def test_the_other_campaigns_prices_are_read_a_page_at_a_time(tmp_path: Path, pg_url: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Learning prices from a shared ledger reads the other campaigns' paid jobs a page at a time (two columns),
    never all of them at once: a team's ledger holds every campaign it ran."""
    from photogpt_batch.ledger import paged

    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        run_shared(write_campaign(folder, jobs=3, name=name), pg_url)
    monkeypatch.setattr(paged, "PAGE", 2)
    with Ledger.open_for_reading(tmp_path / "two" / "out", url=pg_url, campaign="two") as ledger:
        seen = list(ledger.paid_by_other_campaigns())
    assert len(seen) == 3 and {credits for _, credits in seen} == {6.0}
    assert {body["prompt"] for body, _ in seen} == {f"shot number {i}" for i in (1, 2, 3)}
