"""The engine schedules the graph: a job is sent once what it needs is done (in the same run), waits for picks,
and is blocked (never sent) when what it needs failed. Real sandbox, real SQLite ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import fast_sandbox, load, posts, run_config

from photogpt_batch.campaign import Campaign
from photogpt_batch.cli import cli
from photogpt_batch.ledger import JobState, Ledger
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import Faults, SandboxThread
from photogpt_batch.spec.selection import select_jobs

CHAIN = """\
version: 1
campaign: chain
output: {out}
defaults: {{model: grok-imagine-1.5, options: {{duration: 3}}}}
jobs:
  - {{id: a, prompt: first shot}}
  - {{id: b, prompt: second shot, needs: a}}
  - {{id: c, prompt: third shot, needs: [b]}}
  - {{id: "draft-{{n}}", prompt: "idea {{n}}", matrix: {{n: [1, 2, 3]}}}}
  - {{id: "final-{{n}}", prompt: "idea {{n}} final", matrix: {{n: [1, 2, 3]}}, needs: "draft-{{n}}"}}
"""

GATED = """\
version: 1
campaign: gated
output: {out}
defaults: {{model: grok-imagine-1.5, options: {{duration: 3}}}}
jobs:
  - {{id: "draft-{{n}}", prompt: "idea {{n}}", matrix: {{n: [1, 2, 3]}}}}
  - {{id: "final-{{n}}", prompt: "idea {{n}}, final", matrix: {{n: [1, 2, 3]}},
     needs: {{job: "draft-{{n}}", picked: true}}}}
"""


def write(tmp_path: Path, text: str) -> Path:
    spec = tmp_path / "campaign.yaml"
    spec.write_text(text.format(out=tmp_path / "out"), encoding="utf-8")
    return spec


def first(ledger: Ledger, job_id: str, to_state: str, video: bool = False) -> float:
    """When the current version of ``job_id`` first (or, for its videos, last) reached ``to_state``."""
    record = ledger.job(job_id)
    assert record is not None
    times = [e.at for e in ledger.events(record.row) if e.to_state == to_state and (e.n is not None) == video]
    assert times, (job_id, to_state)
    return max(times) if video else min(times)


def test_a_chain_and_drafts_to_finals_complete_in_one_run_each_sent_after_its_need_is_downloaded(
        tmp_path: Path) -> None:
    spec = write(tmp_path, CHAIN)
    with SandboxThread(fast_sandbox()) as sandbox:
        summary = run_campaign(load(spec), run_config(sandbox))
        assert summary.complete, summary
        assert posts(sandbox) == 9
        assert not sandbox.counters.duplicate_payloads()
    with Ledger.open_for_reading(tmp_path / "out") as ledger:
        assert all(r.all_downloaded for r in ledger.jobs())
        for upstream, downstream in [("a", "b"), ("b", "c"), *((f"draft-{n}", f"final-{n}") for n in (1, 2, 3))]:
            assert first(ledger, upstream, "downloaded", video=True) <= first(ledger, downstream, "submitting")


def test_finals_wait_for_picks_then_exactly_the_picked_drafts_finals_are_sent(tmp_path: Path) -> None:
    spec = write(tmp_path, GATED)
    with SandboxThread(fast_sandbox()) as sandbox:
        summary = run_campaign(load(spec), run_config(sandbox))
        # Waiting for picks is not a failure: everything that could run is done.
        assert summary.complete, summary
        assert posts(sandbox) == 3
        assert summary.waiting == [(f"final-{n}", f"needs draft-{n} (not picked)") for n in (1, 2, 3)]
        # Picks recorded the real way: the page's exported file, recorded by `review --picks`.
        picks = tmp_path / "picks.json"
        picks.write_text(json.dumps({"format": "photogpt-batch-picks", "version": 1, "campaign": "gated",
                                     "picks": [{"job": "draft-1"}, {"job": "draft-3"}]}))
        result = CliRunner().invoke(cli, ["review", str(spec), "--picks", str(picks)])
        assert result.exit_code == 0, result.output
        summary = run_campaign(load(spec), run_config(sandbox))
        assert summary.complete, summary
        assert posts(sandbox) == 5
        assert summary.waiting == [("final-2", "needs draft-2 (not picked)")]
        sent = {job.body["prompt"] for job in sandbox.jobs.values()}
        assert {"idea 1, final", "idea 3, final"} <= sent and "idea 2, final" not in sent
    with Ledger.open_for_reading(tmp_path / "out") as ledger:
        states = {r.job_id: r.state for r in ledger.jobs()}
    assert states["final-1"] == states["final-3"] == JobState.SUCCEEDED
    assert states["final-2"] == JobState.PLANNED


def test_a_failed_need_blocks_its_dependants_which_are_never_sent(tmp_path: Path) -> None:
    spec = write(tmp_path, """\
version: 1
campaign: chain
output: {out}
defaults: {{model: grok-imagine-1.5, options: {{duration: 3}}}}
jobs:
  - {{id: a, prompt: first shot}}
  - {{id: b, prompt: second shot, needs: a}}
  - {{id: c, prompt: third shot, needs: [b]}}
  - {{id: free, prompt: on its own}}
""")
    with SandboxThread(fast_sandbox(faults=Faults(fail_nth=(1,)))) as sandbox:
        summary = run_campaign(load(spec), run_config(sandbox, concurrency=1))
        assert not summary.complete
        assert [job for job, _ in summary.failed] == ["a"]
        error = summary.failed[0][1]
        assert summary.blocked == [("b", f"needs a, which failed: {error}"),
                                   ("c", f"needs b, blocked by a, which failed: {error}")]
        assert posts(sandbox) == 2  # a and free: b and c are never sent


def test_only_leaving_out_an_unmet_need_is_refused_and_a_met_one_is_fine(tmp_path: Path) -> None:
    spec = write(tmp_path, CHAIN)
    with SandboxThread(fast_sandbox()) as sandbox:
        result = CliRunner().invoke(cli, ["run", str(spec), "--only", "final-2"],
                                    env={"PHOTOGPT_API_KEY": "test-key", "PHOTOGPT_BASE_URL": sandbox.base_url})
        assert result.exit_code == 2, result.output
        assert "final-2 needs draft-2" in result.output and "--only draft-2" in result.output
        assert posts(sandbox) == 0
        assert run_campaign(_only(spec, "draft-*"), run_config(sandbox)).complete
        assert posts(sandbox) == 3
        # The drafts are done now: a final alone is sent, its need met by the earlier run.
        assert run_campaign(_only(spec, "final-2"), run_config(sandbox)).complete
        assert posts(sandbox) == 4


def _only(spec: Path, pattern: str) -> Campaign:
    """The campaign with ``--only pattern`` applied."""
    campaign = load(spec)
    select_jobs(campaign, [pattern])
    return campaign


def test_status_and_plan_tell_waiting_from_unfinished(tmp_path: Path) -> None:
    spec = write(tmp_path, GATED)
    with SandboxThread(fast_sandbox()) as sandbox:
        assert run_campaign(load(spec), run_config(sandbox)).complete
    runner = CliRunner()
    status = runner.invoke(cli, ["status", str(spec), "--json"])
    assert status.exit_code == 0, status.output  # the rest only waits for picks
    data = json.loads(status.stdout)
    assert data["complete"] and data["waiting"] == 3 and data["blocked"] == 0
    final = next(job for job in data["jobs"] if job["id"] == "final-2")
    assert (final["readiness"], final["why"]) == ("waiting", "needs draft-2 (not picked)")
    text = runner.invoke(cli, ["status", str(spec)]).output
    assert "waiting   final-1  needs draft-1 (not picked)" in text
    plan = runner.invoke(cli, ["plan", str(spec)])
    assert "waiting   final-3  needs draft-3 (not picked)" in plan.output, plan.output


def test_a_job_whose_need_is_in_doubt_waits_and_is_never_sent(tmp_path: Path) -> None:
    # a's POST reaches the server, but its answer is lost: a is in doubt (maybe paid). b, which needs it, must not
    # be sent on a guess: it waits, saying why, until the doubt is settled.
    spec = write(tmp_path, """\
version: 1
campaign: doubt
output: {out}
defaults: {{model: grok-imagine-1.5, options: {{duration: 3}}}}
jobs:
  - {{id: a, prompt: first shot}}
  - {{id: b, prompt: second shot, needs: a}}
""")
    faults = Faults(lost_post_nth=(1,), lost_post_mode="error")
    with SandboxThread(fast_sandbox(faults=faults)) as sandbox:
        summary = run_campaign(load(spec), run_config(sandbox, concurrency=1))
        assert summary.in_doubt == ["a"]
        assert [(job, why) for job, why in summary.waiting] == [("b", "needs a (in doubt)")]
        assert not summary.complete and posts(sandbox) == 1
        # A rerun does not guess either: the doubt stands (the server created a), so b still waits.
        again = run_campaign(load(spec), run_config(sandbox, concurrency=1))
        assert [job for job, _ in again.waiting] == ["b"] and posts(sandbox) == 1


def test_a_graph_run_reads_the_records_a_page_at_a_time_never_all_at_once(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduler keeps the records of the jobs others need; it reads them a page at a time, never every
    record at once (at 100,000 jobs a full read is about 100 MB)."""
    from photogpt_batch.ledger import paged

    def refused(self: Ledger) -> list[object]:
        raise AssertionError("the run read every record at once")

    monkeypatch.setattr(paged, "PAGE", 2)  # pages end inside the campaign
    monkeypatch.setattr(Ledger, "jobs", refused)
    spec = write(tmp_path, CHAIN)
    with SandboxThread(fast_sandbox()) as sandbox:
        summary = run_campaign(load(spec), run_config(sandbox))
        assert summary.complete and posts(sandbox) == 9
        again = run_campaign(load(spec), run_config(sandbox))
    assert again.complete and posts(sandbox) == 9
