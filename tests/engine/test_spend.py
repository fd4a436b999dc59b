"""Spend safety (issue #12): prices learned from what was paid, the diff and the estimate in `plan`, budgets
that hold under concurrency and across runs, and honest credit figures. Against the sandbox, whose credits
rule is documented (docs/sandbox.md): grok-imagine-1.5 costs 2 credits per second per video, so the test
campaign's jobs (duration 3) cost 6 credits per video."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from engine_helpers import current_states, fast_sandbox, load, run_config, wait_until, write_campaign

from photogpt_batch import campaign_index
from photogpt_batch.cli import cli
from photogpt_batch.engine.credits import fetch_credits
from photogpt_batch.ledger import Ledger, ledger_path
from photogpt_batch.plugins import get_registry
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import Faults, SandboxThread
from photogpt_batch.spend.budget import BudgetGate, BudgetReached, effective_budget
from photogpt_batch.spend.pricing import PriceBook, ledger_history, machine_history, price_class
from photogpt_batch.views.diff import body_diff
from photogpt_batch.views.plan import make_plan

PER_VIDEO = 6  # grok-imagine-1.5 at duration 3: 2 credits/s x 3 s


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(fast_sandbox(jobs_page_size=7)) as sb:
        yield sb


def posts(sb: SandboxThread) -> int:
    return sb.counters.requests.get("POST /videos/generation", 0)


def grok(prompt: str = "p", **options: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"modelID": "grok-imagine-1.5", "prompt": prompt}
    if "numVideos" in options:
        body["numVideos"] = options.pop("numVideos")
    if options:
        body["options"] = {"grok": options}
    return body


# ---- price classes and estimates -------------------------------------------------------------------------

def test_a_price_class_ignores_what_cannot_change_the_price() -> None:
    rules = get_registry()
    base = price_class(grok("a", duration=3), rules)
    assert price_class(grok("another prompt", duration=3, aspectRatio="9:16"), rules) == base
    assert price_class(grok("a", duration=3, numVideos=4), rules) == base
    assert price_class(grok("a", duration=4), rules) != base
    assert price_class(grok("a", duration=3, resolution="720p"), rules) != base
    # A value left out is the option's documented default: duration 8, resolution 480p.
    assert price_class(grok("a"), rules) == price_class(grok("a", duration=8, resolution="480p"), rules)
    with_image = {**grok("a", duration=3), "referenceImages": [{"url": "https://x/i.png", "role": "first_frame"}]}
    assert price_class(with_image, rules) != base


def test_estimates_are_per_video_and_unknown_classes_are_none_not_zero() -> None:
    book = PriceBook(get_registry())
    book.learn(grok("a", duration=3, numVideos=2), 12)
    assert book.estimate(grok("b", duration=3)) == 6
    assert book.estimate(grok("c", duration=3, numVideos=4)) == 24
    assert book.estimate(grok("d", duration=5)) is None
    book.learn(grok("e", duration=3), 7)  # the class's highest price paid: a budget must not be undershot
    assert book.estimate(grok("f", duration=3)) == 7


def test_prices_are_learned_from_this_ledger_and_the_other_ledgers_on_this_machine(
        tmp_path: Path, sandbox: SandboxThread) -> None:
    other = tmp_path / "other"
    other.mkdir()
    run_campaign(load(write_campaign(other, jobs=2, name="older")), run_config(sandbox))
    with Ledger.open_for_reading(other / "out") as ledger:
        paid = list(ledger_history(ledger))
    assert [p.credits for p in paid] == [PER_VIDEO, PER_VIDEO]
    assert campaign_index.read()  # the run remembered its folder
    assert [p.credits for p in machine_history(exclude=tmp_path / "new" / "out")] == [PER_VIDEO, PER_VIDEO]
    assert list(machine_history(exclude=other / "out")) == []

    fresh = tmp_path / "new"
    fresh.mkdir()
    spec = write_campaign(fresh, jobs=5, name="newer")
    plan = make_plan(load(spec))
    assert plan.estimate().to_json() == {"credits": 5 * PER_VIDEO, "priced": 5, "unknown": 0}
    assert make_plan(load(spec), other_ledgers=False).estimate().to_json() == {"credits": None, "priced": 0,
                                                                              "unknown": 5}


# ---- plan: the diff and the estimate ---------------------------------------------------------------------

def test_the_diff_of_a_changed_job_names_each_field() -> None:
    old = grok("a", duration=4, seed=1) | {"numVideos": 1}
    new = grok("b", duration=8) | {"numVideos": 1}
    assert [c.describe() for c in body_diff(old, new)] == [
        'prompt: "a" → "b"', "options.duration: 4 → 8", "options.seed: 1 → (none)"]
    assert body_diff(old, old) == []


def test_plan_shows_what_changed_and_ends_with_the_estimate(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=3)
    run_campaign(load(spec), run_config(sandbox))
    spec.write_text(spec.read_text().replace('prompt: "shot number {i}"', 'prompt: "take {i}"')
                    .replace("i: [1, 2, 3]", "i: [1, 2, 3, 4, 5]"))
    result = CliRunner().invoke(cli, ["plan", str(spec)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert 'prompt: "shot number 2" → "take 2"' in lines[lines.index(next(x for x in lines if "clip-2" in x)) + 1]
    assert lines[-1] == "2 new, 3 changed · ≈ 30 credits (5 priced from 3 past jobs)"

    data = json.loads(CliRunner().invoke(cli, ["plan", "--json", str(spec)]).stdout)
    assert data["estimate"] == {"credits": 30, "priced": 5, "unknown": 0}
    by_id = {job["id"]: job for job in data["jobs"]}
    assert by_id["clip-1"]["diff"] == [{"path": "prompt", "old": "shot number 1", "new": "take 1"}]
    assert by_id["clip-1"]["estimatedCredits"] == PER_VIDEO
    assert "diff" not in by_id["clip-5"] and by_id["clip-5"]["state"] == "new"

    spec.write_text(spec.read_text().replace("duration: 3", "duration: 5"))
    data = json.loads(CliRunner().invoke(cli, ["plan", "--json", str(spec)]).stdout)
    assert data["estimate"] == {"credits": None, "priced": 0, "unknown": 5}
    assert {job["estimatedCredits"] for job in data["jobs"]} == {None}


# ---- the budget gate -------------------------------------------------------------------------------------

async def test_the_gate_never_lets_concurrent_reservations_pass_the_budget_together() -> None:
    gate = BudgetGate(100)

    async def one(row: int) -> bool:
        try:
            await gate.reserve(row, "c", lambda: 7.0)
        except BudgetReached:
            return False
        return True

    admitted = await asyncio.gather(*(one(row) for row in range(64)))
    assert sum(admitted) == 14 and gate.committed == 98 and gate.reached


async def test_an_unknown_class_goes_one_at_a_time_until_its_price_is_known() -> None:
    gate = BudgetGate(100)
    price: list[float | None] = [None]
    await gate.reserve(1, "c", lambda: price[0])
    second = asyncio.create_task(gate.reserve(2, "c", lambda: price[0]))
    other_class = asyncio.create_task(gate.reserve(3, "d", lambda: None))
    await asyncio.sleep(0.05)
    assert not second.done() and other_class.done()  # another class is not held up
    price[0] = 10.0
    await gate.settle(1, 10.0)
    await asyncio.wait_for(second, 1)
    assert gate.committed == 20


def test_the_lower_budget_wins() -> None:
    assert effective_budget(30, 60) == effective_budget(60, 30) == 30
    assert effective_budget(None, 60) == 60 and effective_budget(None, None) is None


# ---- budgets end to end ------------------------------------------------------------------------------------

def sandbox_spend(sb: SandboxThread) -> int:
    return sum(job.credits for job in sb.jobs.values())


@pytest.mark.slow  # 200 jobs: seconds of CPU by design: out of the fast inner loop (see docs/development.md)
def test_a_budget_is_never_passed_with_200_jobs_at_64_in_flight(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=200)
    summary = run_campaign(load(spec), run_config(sandbox, concurrency=64, max_credits=400))
    # One job of the unknown class first, alone; then 6 credits each until the next would pass 400: the last
    # of them are reserved with 64 in flight.
    assert sandbox_spend(sandbox) == 396 and posts(sandbox) == 66
    assert summary.budget_reached and summary.budget_not_submitted == 200 - 66
    assert summary.credits == summary.run_credits == 396
    assert not summary.complete
    assert summary.videos_downloaded == 66  # the jobs in flight finished and downloaded


def test_unknown_prices_are_learned_from_one_job_before_others_of_the_class_go(
        tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=6)
    summary = run_campaign(load(spec), run_config(sandbox, concurrency=8, max_credits=20))
    # Without the rule all six would go at once (an unknown price reserves nothing). With it: one alone,
    # then 6 + 6 + 6 = 18; a fourth would make 24.
    assert posts(sandbox) == 3 and sandbox_spend(sandbox) == 18
    assert summary.budget_not_submitted == 3


def test_budgets_hold_across_runs_and_raising_one_goes_on(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=10)
    first = run_campaign(load(spec), run_config(sandbox, max_credits=30))
    assert posts(sandbox) == 5 and first.budget_reached
    again = run_campaign(load(spec), run_config(sandbox, max_credits=30))
    assert posts(sandbox) == 5 and again.budget_not_submitted == 5 and again.run_credits == 0
    assert again.credits == 30
    raised = run_campaign(load(spec), run_config(sandbox, max_credits=60))
    assert posts(sandbox) == 10 and raised.complete and raised.credits == 60 and raised.run_credits == 30


def test_the_spec_budget_and_the_flag_together_the_lower_wins(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=10, extra="budget:\n  credits: 24\n")
    run_campaign(load(spec), run_config(sandbox, max_credits=100))
    assert posts(sandbox) == 4
    run_campaign(load(spec), run_config(sandbox, max_credits=12))
    assert posts(sandbox) == 4  # 24 spent, the flag's 12 is lower: nothing more


def test_after_kill_9_unsent_reservations_do_not_count_and_in_doubt_ones_do(
        tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=10)
    run_campaign(load(spec), run_config(sandbox, max_credits=12))  # learns the price: 2 jobs, 12 credits
    spec.write_text(spec.read_text().replace("i: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", "i: " + str(list(range(1, 21)))))
    # What a run killed with kill -9 leaves: one job whose intent was recorded (its POST may have gone out),
    # the rest planned (reserved only in the killed process's memory, never sent).
    campaign = load(spec)
    ledger = Ledger.open_for_run(campaign.output)
    try:
        rows = ledger.register(campaign.jobs)
        asyncio.run(_mark_submitting(ledger, rows["clip-11"]))
    finally:
        ledger.close()
    summary = run_campaign(load(spec), run_config(sandbox, max_credits=48))
    # 12 spent + 6 held for the job in doubt + 5 new jobs at 6 = 48: the planned ones cost nothing.
    assert posts(sandbox) == 2 + 5
    assert summary.in_doubt == ["clip-11"] and summary.budget_not_submitted == 20 - 2 - 1 - 5


async def _mark_submitting(ledger: Ledger, row: int) -> None:
    await ledger.mark_submitting(row)
    await ledger.aclose()


def test_a_budget_in_the_spec_is_validated_with_its_location(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=1, extra="budget:\n  credits: -5\n")
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2
    assert f"{spec}:15:12: error: budget.credits: -5 is not a number of credits greater than 0" in result.output
    spec.write_text(spec.read_text().replace("credits: -5", "credit: 5"))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert "unknown key 'credit' in budget" in result.output and result.exit_code == 2


# ---- honest figures ----------------------------------------------------------------------------------------

def test_the_summary_keeps_this_runs_spend_apart_from_the_campaigns_total(
        tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=3)
    first = run_campaign(load(spec), run_config(sandbox))
    assert (first.run_credits, first.credits, first.credits_jobs) == (18, 18, 3)
    rerun = run_campaign(load(spec), run_config(sandbox))
    assert (rerun.run_credits, rerun.credits) == (0, 18)
    spec.write_text(spec.read_text().replace("i: [1, 2, 3]", "i: [1, 2, 3]\n    numVideos: 2")
                    .replace('prompt: "shot number {i}"', 'prompt: "take {i}"'))
    changed = run_campaign(load(spec), run_config(sandbox))
    # The changed jobs are paid again; the earlier versions stay in the total.
    assert (changed.run_credits, changed.credits, changed.credits_jobs) == (36, 54, 6)


async def test_the_credits_listing_follows_every_page_past_5000_jobs() -> None:
    class Lister:
        def list_jobs(self, start: Any = None, end: Any = None) -> AsyncIterator[dict[str, Any]]:
            async def items() -> AsyncIterator[dict[str, Any]]:
                for n in range(20_000):
                    yield {"jobId": f"job_{n}", "credits": 10}
            return items()

    wanted = {f"job_{n}": 0.0 for n in range(20_000)}
    found = await fetch_credits(Lister(), wanted)
    assert len(found) == 20_000 and sum(found.values()) == 200_000


def test_status_refresh_fetches_missing_credits_and_shows_them_per_job_and_model(
        tmp_path: Path, sandbox: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_campaign(tmp_path, jobs=3)
    run_campaign(load(spec), run_config(sandbox))
    with sqlite3.connect(ledger_path(tmp_path / "out")) as conn:
        conn.execute("UPDATE jobs SET credits = NULL WHERE job_id != 'clip-1'")
    data = json.loads(CliRunner().invoke(cli, ["status", "--json", str(spec)]).stdout)
    assert data["credits"] == {"total": 6, "jobs": 1, "pending": 2,
                               "perModel": {"grok-imagine-1.5": {"credits": 6, "jobs": 1, "pending": 2}}}
    monkeypatch.setenv("PHOTOGPT_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("PHOTOGPT_API_KEY", "test-key")
    result = CliRunner().invoke(cli, ["status", "--refresh", str(spec)])
    assert "credits recorded for 2 jobs" in result.stderr
    assert "clip-2" in result.stdout and "6 credits" in result.stdout.splitlines()[1]
    assert result.stdout.splitlines()[-1] == "credits: 18 in total over 3 jobs (all versions, all runs)"


@pytest.mark.slow
def test_budget_after_a_real_kill_9(tmp_path: Path) -> None:
    """A run killed with SIGKILL while two jobs generate and a third POST hangs: the next run counts the two
    in flight and the one in doubt at their estimate, and nothing for the jobs the killed run never sent."""
    slow_third_post = Faults(slow_nth=(3,), slow_routes=("POST /videos/generation",), slow_seconds=3600)
    with SandboxThread(fast_sandbox(generation_seconds=(2.0, 2.0), faults=slow_third_post)) as sb:
        prime = tmp_path / "prime"
        prime.mkdir()
        run_campaign(load(write_campaign(prime, jobs=1, name="prime")), run_config(sb))  # POST 1: 6 a video
        spec = write_campaign(tmp_path, jobs=10)
        env = {**os.environ, "PHOTOGPT_BASE_URL": sb.base_url, "PHOTOGPT_API_KEY": "test-key"}
        child = subprocess.Popen([sys.executable, "-m", "photogpt_batch", "run", str(spec), "--concurrency", "3",
                                  "--max-credits", "1000"], env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: current_states(tmp_path / "out") == {"submitted": 2, "submitting": 1, "planned": 7})
        finally:
            child.kill()
            child.wait()
        # The budget is this campaign's (the prime run's 6 credits were another campaign's, they only taught
        # the price): 2 x 6 in flight + 6 in doubt + 3 new x 6 = 36. The seven jobs never sent cost nothing.
        second = run_campaign(load(spec), run_config(sb, max_credits=36))
        assert posts(sb) == 4 + 3
        assert second.in_doubt == ["clip-2"] and second.budget_not_submitted == 10 - 2 - 1 - 3
        assert (second.credits, second.credits_pending, second.budget_committed) == (30, 1, 36)
        # Another job (the prime run's, unknown to this ledger) was created near it, so GET /jobs cannot prove
        # it never made a job: it stays in doubt until the user settles it. Resubmitted, it counts once.
        third = run_campaign(load(spec), run_config(sb, max_credits=36, resubmit_in_doubt=True))
        assert posts(sb) == 8 and third.in_doubt == [] and third.credits == 36
        assert sandbox_spend(sb) == 6 + 36


def test_the_resume_command_repeats_the_budget_but_not_yes() -> None:
    from photogpt_batch.cli.run import resume_command, run

    for yes in ("--yes", "-y"):
        with run.make_context("run", ["t.yaml", "--max-credits", "500", yes]) as ctx:
            assert resume_command(ctx) == ["photogpt-batch", "run", "t.yaml", "--max-credits", "500.0"]


def test_a_budget_that_is_not_a_positive_number_is_a_usage_error(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    for value in ("0", "-3", "nan", "lots"):
        result = CliRunner().invoke(cli, ["run", str(spec), "--sandbox", "--max-credits", value])
        assert result.exit_code == 2, (value, result.output)
    assert not (tmp_path / "out").exists()  # nothing ran


def test_a_no_at_the_question_leaves_the_folder_as_it_was(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    run_campaign(load(spec), run_config(sandbox))
    spec.write_text(spec.read_text().replace("duration: 3", "duration: 4").replace("i: [1, 2]", "i: [1, 2, 3]"))
    before = make_plan(load(spec))
    shown: list[Any] = []

    def decline(preview):
        shown.append(preview)
        return False

    config = run_config(sandbox)
    assert config.engine is not None
    config.engine.confirm = decline
    summary = run_campaign(load(spec), config)
    assert summary.declined and not summary.complete and posts(sandbox) == 2
    assert [(p.new, p.changed, p.retried, p.resubmitted, p.estimate.unknown) for p in shown] == [(1, 2, 0, 0, 3)]
    after = make_plan(load(spec))
    assert after.counts() == before.counts() == {"changed": 2, "new": 1}
    assert after.diffs == before.diffs and (tmp_path / "out" / "clip-1" / "1.mp4").exists()


def test_the_question_counts_retried_and_resubmitted_jobs_and_is_not_asked_with_nothing_to_pay(
        tmp_path: Path) -> None:
    with SandboxThread(fast_sandbox(faults=Faults(fail_nth=(1,)))) as sb:
        spec = write_campaign(tmp_path, jobs=2)
        run_campaign(load(spec), run_config(sb))  # clip-1 fails
        shown: list[Any] = []

        def accept(preview):
            shown.append(preview)
            return True

        config = run_config(sb, retry_failed=True)
        assert config.engine is not None
        config.engine.confirm = accept
        assert run_campaign(load(spec), config).complete
        assert [(p.new, p.changed, p.retried, p.estimate.priced) for p in shown] == [(0, 0, 1, 1)]
        shown.clear()
        run_campaign(load(spec), config)
        assert shown == []


def test_the_run_summary_says_the_budget_was_reached_and_exits_1(tmp_path: Path, fast_in_process_runs: None) -> None:
    spec = write_campaign(tmp_path, jobs=6, extra="budget:\n  credits: 20\n")
    result = CliRunner().invoke(cli, ["run", str(spec), "--sandbox", "-q"])
    assert result.exit_code == 1, result.output
    assert "budget reached: 18 of 20 credits; 3 jobs not submitted" in result.stderr
    assert "spend: this run 18 credits; campaign 18 credits over 3 jobs (all versions, all runs)" in result.stderr
    data = json.loads(CliRunner().invoke(cli, ["run", str(spec), "--sandbox", "--json", "--max-credits", "36"]).stdout)
    assert data["budget"] == {"credits": 20, "committed": 18, "reached": True, "notSubmitted": 3,
                              "priceUnknown": []}  # lower wins
    assert data["spend"] == {"run": {"credits": 0, "pending": 0}, "campaign": {"credits": 18, "jobs": 3, "pending": 0}}
