"""Stages and budgets of a campaign whose jobs need others (issue #20, item 4): `plan` groups the jobs to submit
by depth in the needs graph with each stage's estimate, and the question before paying counts the downstream
jobs a run may send, a job gated on a pick only once that pick is recorded. The spec's ``needs:`` key is read by
the spec layer; here the graph is set on the loaded campaign, as the spec layer would set it (see
`pipeline_spend`: three drafts at 6 credits, their finals at 12)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import fast_sandbox, load, posts, run_config
from pipeline_spend import DRAFT, FINAL, pick, pipeline, preview_of, run_drafts, spec_file

from photogpt_batch.campaign import Need, PlannedJob
from photogpt_batch.plugins import get_registry
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread
from photogpt_batch.spend.pricing import PriceBook
from photogpt_batch.spend.stages import depths, held_for_picks, make_stages
from photogpt_batch.views.plan import make_plan
from photogpt_batch.views.plan_render import plan_json, print_plan


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


def job(job_id: str, videos: int = 1, duration: int = 3) -> PlannedJob:
    body = {"modelID": "grok-imagine-1.5", "prompt": job_id, "numVideos": videos,
            "options": {"grok": {"duration": duration}}}
    return PlannedJob(job_id, "grok-imagine-1.5", body, job_id)


def priced_book() -> PriceBook:
    book = PriceBook(get_registry())
    book.learn(job("paid").body, DRAFT)
    return book


# ---- stages, pure ----------------------------------------------------------------------------------------

def test_stages_follow_the_depth_of_the_needs_graph() -> None:
    needs = {"b": (Need("a"),), "c": (Need("b"), Need("a")), "d": (Need("a"), Need("x"))}
    assert depths(needs) == {"b": 2, "c": 3, "d": 2}
    jobs = [job("a"), job("b"), job("c"), job("d"), job("lone")]
    stages = make_stages(jobs, needs, set(), priced_book())
    assert [(s.number, s.jobs, s.after_picks, s.estimate.credits) for s in stages] == [
        (1, 2, 0, 12), (2, 2, 0, 12), (3, 1, 0, 6)]
    assert [s.describe() for s in stages] == ["stage 1: 2 jobs ≈ 12 credits", "stage 2: 2 jobs ≈ 12 credits",
                                              "stage 3: 1 job ≈ 6 credits"]


def test_a_long_chain_is_no_recursion() -> None:
    needs = {f"s{k}": (Need(f"s{k - 1}"),) for k in range(1, 5000)}
    assert depths(needs)["s4999"] == 5000


def test_jobs_gated_on_a_pick_not_recorded_are_up_to_after_picks_and_so_are_those_after_them() -> None:
    needs = {"final-1": (Need("draft-1", picked=True),), "final-2": (Need("draft-2", picked=True),),
             "extend-1": (Need("final-1"),), "extend-2": (Need("final-2"),)}
    sending = ["draft-1", "draft-2", "final-1", "final-2", "extend-1", "extend-2"]
    assert held_for_picks(sending, needs, {"draft-2"}) == {"final-1", "extend-1"}
    # A final already generated holds nothing back: what needs it waits only for its own needs.
    assert held_for_picks(["extend-1"], needs, set()) == set()
    stages = make_stages([job(i, videos=2 if i.startswith("final") else 1) for i in sending], needs, {"draft-2"},
                         priced_book())
    assert [s.describe() for s in stages] == [
        "stage 1: 2 jobs ≈ 12 credits", "stage 2: up to 2 jobs ≈ 24 credits (after picks)",
        "stage 3: up to 2 jobs ≈ 12 credits (after picks)"]
    assert stages[1].to_json() == {"stage": 2, "jobs": 2, "afterPicks": 1,
                                   "estimate": {"credits": 24, "priced": 2, "unknown": 0}}
    everything = make_stages([job(i) for i in sending], needs, {"draft-1", "draft-2"}, priced_book())
    assert [s.after_picks for s in everything] == [0, 0, 0]


def test_only_the_jobs_to_send_are_staged_and_unknown_prices_are_said() -> None:
    needs = {"final-1": (Need("draft-1"),), "final-2": (Need("draft-2"),)}
    # The drafts are done: only the finals are sent, and they stay stage 2.
    stages = make_stages([job("final-1"), job("final-2", duration=5)], needs, set(), priced_book())
    assert [s.describe() for s in stages] == ["stage 2: 2 jobs ≈ 6 credits, 1 unknown"]
    assert make_stages([job("final-2", duration=5)], needs, set(), priced_book())[0].describe() == \
        "stage 2: 1 job, price unknown"
    assert make_stages([], needs, set(), priced_book()) == []


# ---- plan ------------------------------------------------------------------------------------------------

def test_plan_shows_the_stages_with_their_estimates(tmp_path: Path, sandbox: SandboxThread,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    run_drafts(tmp_path, sandbox)
    spec = spec_file(tmp_path)
    spec.write_text(spec.read_text().replace('"take {i}"', '"draft {i}"', 1))
    plan = make_plan(pipeline(spec))  # the drafts changed: both stages have jobs to send
    print_plan(plan)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3:] == ["3 new, 3 changed · ≈ 54 credits (6 priced from 3 past jobs)",
                          "stage 1: 3 jobs ≈ 18 credits",
                          "stage 2: up to 3 jobs ≈ 36 credits (after picks)"]
    assert plan_json(plan)["stages"] == [
        {"stage": 1, "jobs": 3, "afterPicks": 0, "estimate": {"credits": 18, "priced": 3, "unknown": 0}},
        {"stage": 2, "jobs": 3, "afterPicks": 3, "estimate": {"credits": 36, "priced": 3, "unknown": 0}}]


def test_plan_leaves_out_done_jobs_and_drops_up_to_once_everything_is_picked(tmp_path: Path,
                                                                            sandbox: SandboxThread) -> None:
    run_drafts(tmp_path, sandbox)
    campaign = pipeline(spec_file(tmp_path))
    assert [s.describe() for s in make_plan(campaign).stages] == ["stage 2: up to 3 jobs ≈ 36 credits (after picks)"]
    pick(campaign, tmp_path, "draft-2")
    assert make_plan(campaign).stages[0].after_picks == 2
    pick(campaign, tmp_path, "draft-1", "draft-2", "draft-3")
    assert [s.describe() for s in make_plan(campaign).stages] == ["stage 2: 3 jobs ≈ 36 credits"]


def test_a_campaign_without_needs_plans_as_before(tmp_path: Path) -> None:
    plan = make_plan(load(spec_file(tmp_path)))
    assert plan.stages == [] and "stages" not in plan_json(plan)


# ---- the question before paying and the budget -----------------------------------------------------------

def test_the_question_counts_downstream_jobs_and_gated_ones_once_picked(tmp_path: Path,
                                                                        sandbox: SandboxThread) -> None:
    run_drafts(tmp_path, sandbox)
    spec = spec_file(tmp_path)
    # Not gated: every final may follow in this run, at its estimate.
    ungated = preview_of(pipeline(spec, picked=False), sandbox)
    assert (ungated.jobs, ungated.after_picks, ungated.estimate.credits) == (3, 0, 3 * FINAL)
    # Draft 2 picked: its final counts, the other two still wait.
    pick(pipeline(spec), tmp_path, "draft-2")
    one = preview_of(pipeline(spec), sandbox)
    assert (one.new, one.after_picks, one.estimate.credits) == (1, 2, FINAL)
    assert one.describe() == "1 new, 0 changed · ≈ 12 credits (1 priced from 3 past jobs); 2 more after picks " \
                             "(not counted)"


def test_a_fresh_pipeline_counts_the_drafts_and_their_ungated_followers(tmp_path: Path,
                                                                         sandbox: SandboxThread) -> None:
    # Gated, nothing picked: no final is counted (the drafts are), and the question says they wait.
    spec = spec_file(tmp_path)
    gated = preview_of(pipeline(spec), sandbox)
    assert (gated.new, gated.after_picks, gated.estimate.unknown) == (3, 3, 3)
    ungated = preview_of(pipeline(spec, picked=False), sandbox)
    assert (ungated.new, ungated.after_picks, ungated.estimate.unknown) == (6, 0, 6)


def test_a_downstream_job_reserves_its_estimate_before_its_post(tmp_path: Path, sandbox: SandboxThread) -> None:
    run_drafts(tmp_path, sandbox)  # 18 credits spent; each final's need is met
    campaign = pipeline(spec_file(tmp_path))
    pick(campaign, tmp_path, "draft-1", "draft-2", "draft-3")
    summary = run_campaign(campaign, run_config(sandbox, max_credits=18 + 2 * FINAL + DRAFT))
    assert summary.budget_not_submitted == 1 and posts(sandbox) == 3 + 2
    assert summary.budget_committed == 18 + 2 * FINAL
