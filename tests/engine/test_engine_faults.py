"""Every fault the sandbox can inject: the run still ends with every video intact and nothing paid twice."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from engine_helpers import check_outputs, fast_sandbox, load, posts, run_config, write_campaign
from ledger_writes import commit

from photogpt_batch.client import PhotoGPTClient
from photogpt_batch.ledger import LEDGER_DIR, LEDGER_FILE, JobState, JobTransition, Ledger
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import Faults, SandboxThread


def _run_with(tmp_path: Path, faults: Faults, jobs: int = 4, **sandbox_settings):
    with SandboxThread(fast_sandbox(faults=faults, **sandbox_settings)) as sandbox:
        summary = run_campaign(load(write_campaign(tmp_path, jobs=jobs)), run_config(sandbox))
        return summary, sandbox


def test_rate_limits_are_retried_after_retry_after(tmp_path: Path) -> None:
    summary, sandbox = _run_with(tmp_path, Faults(rate_limit_nth=(2, 3, 5), retry_after_seconds=0))
    assert summary.complete
    assert sandbox.counters.faults["rate_limit"] == 3
    assert not sandbox.counters.duplicate_payloads()
    check_outputs(tmp_path / "out", 4)


def test_server_errors_on_reads_are_retried(tmp_path: Path) -> None:
    faults = Faults(server_error_nth=(3, 4, 6, 9), server_error_routes=("GET /jobs/{id}", "GET /jobs",
                                                                        "GET /videos/{id}/download"))
    summary, sandbox = _run_with(tmp_path, faults)
    assert summary.complete
    assert sandbox.counters.faults["server_error"] == 4
    check_outputs(tmp_path / "out", 4)


def test_html_error_pages_are_handled_like_server_errors(tmp_path: Path, fast_retries: None) -> None:
    faults = Faults(html_error_nth=(2, 3, 4), html_error_routes=("GET /jobs/{id}", "GET /jobs",
                                                                 "GET /videos/{id}/create-download"))
    summary, sandbox = _run_with(tmp_path, faults)
    assert summary.complete
    assert sandbox.counters.faults["html_error"] == 3


def test_a_server_error_on_submit_makes_the_job_in_doubt_not_resent(tmp_path: Path) -> None:
    faults = Faults(server_error_nth=(1,), server_error_routes=("POST /videos/generation",))
    with SandboxThread(fast_sandbox(faults=faults)) as sandbox:
        spec = write_campaign(tmp_path, jobs=2)
        summary = run_campaign(load(spec), run_config(sandbox))
        assert len(summary.in_doubt) == 1 and not summary.complete
        assert posts(sandbox) == 2


def test_a_lost_post_response_is_in_doubt_and_resubmitted_only_when_asked(tmp_path: Path) -> None:
    with SandboxThread(fast_sandbox(faults=Faults(lost_post_nth=(1,), lost_post_mode="drop"))) as sandbox:
        spec = write_campaign(tmp_path, jobs=3)
        summary = run_campaign(load(spec), run_config(sandbox))
        assert len(summary.in_doubt) == 1
        assert sandbox.counters.jobs_created == 3  # the lost one exists on the server
        again = run_campaign(load(spec), run_config(sandbox))
        assert again.in_doubt == summary.in_doubt
        assert posts(sandbox) == 3  # no silent resend
        final = run_campaign(load(spec), run_config(sandbox, resubmit_in_doubt=True))
        assert final.complete
        assert posts(sandbox) == 4
        check_outputs(tmp_path / "out", 3)


def test_truncated_downloads_are_resumed_and_complete(tmp_path: Path) -> None:
    summary, sandbox = _run_with(tmp_path, Faults(truncate_nth=(1, 2, 4)), video_bytes=300_000)
    assert summary.complete
    assert sandbox.counters.faults["truncate"] == 3
    assert any("206" in key for key in sandbox.counters.responses)  # resumed with Range
    check_outputs(tmp_path / "out", 4)


def test_expired_file_urls_are_refreshed(tmp_path: Path) -> None:
    summary, sandbox = _run_with(tmp_path, Faults(expired_url_nth=(1, 3)))
    assert summary.complete
    assert sandbox.counters.faults["expired_url"] == 2
    check_outputs(tmp_path / "out", 4)


def test_a_failed_download_preparation_is_asked_again(tmp_path: Path) -> None:
    summary, sandbox = _run_with(tmp_path, Faults(download_error_nth=(1, 2)))
    assert summary.complete
    assert sandbox.counters.faults["download_error"] == 2
    check_outputs(tmp_path / "out", 4)


def test_statuses_in_unexpected_letter_case_are_understood(tmp_path: Path) -> None:
    summary, _ = _run_with(tmp_path, Faults(odd_case_status=True))
    assert summary.complete
    check_outputs(tmp_path / "out", 4)


def test_slow_responses_do_not_break_the_run(tmp_path: Path) -> None:
    summary, _ = _run_with(tmp_path, Faults(slow_nth=(1, 2, 3), slow_seconds=0.3))
    assert summary.complete


def test_mixed_faults_lose_nothing_and_pay_nothing_twice(tmp_path: Path) -> None:
    faults = Faults(rate_limit_rate=0.05, server_error_rate=0.05, lost_post_rate=0.05, truncate_rate=0.1,
                    fail_rate=0.05, expired_url_rate=0.05, retry_after_seconds=0)
    with SandboxThread(fast_sandbox(faults=faults, seed=7)) as sandbox:
        spec = write_campaign(tmp_path, jobs=30)
        run_campaign(load(spec), run_config(sandbox))
        final = run_campaign(load(spec), run_config(sandbox, retry_failed=True, resubmit_in_doubt=True))
        for _ in range(5):
            if final.complete:
                break
            final = run_campaign(load(spec), run_config(sandbox, retry_failed=True, resubmit_in_doubt=True))
        assert final.complete
        entries = check_outputs(tmp_path / "out", 30)
        with Ledger.open_for_reading(tmp_path / "out") as ledger:
            records = ledger.jobs()
        assert len(records) == 30 and all(r.state == JobState.SUCCEEDED for r in records)
        # A payload exists twice on the server only where the user asked for it: a failed job retried
        # (--retry-failed) or a job whose lost response made it in doubt (--resubmit-in-doubt).
        duplicates = sum(n - 1 for n in sandbox.counters.duplicate_payloads().values())
        assert duplicates <= sandbox.counters.faults["lost_post"] + sandbox.counters.faults["fail"]
        assert len({e["path"] for e in entries}) == 30


def test_an_in_doubt_submission_that_never_reached_the_server_is_sent_again(tmp_path: Path) -> None:
    # The sandbox answers this 500 without creating the job; GET /jobs then proves nothing was created.
    faults = Faults(server_error_nth=(1,), server_error_routes=("POST /videos/generation",))
    with SandboxThread(fast_sandbox(faults=faults)) as sandbox:
        spec = write_campaign(tmp_path, jobs=2)
        assert len(run_campaign(load(spec), run_config(sandbox)).in_doubt) == 1
        summary = run_campaign(load(spec), run_config(sandbox, in_doubt_settle_seconds=0))
        assert summary.complete
        assert sandbox.counters.jobs_created == 2 and not sandbox.counters.duplicate_payloads()
        check_outputs(tmp_path / "out", 2)


def test_an_in_doubt_submission_that_created_a_job_stays_in_doubt(tmp_path: Path) -> None:
    with SandboxThread(fast_sandbox(faults=Faults(lost_post_nth=(1,), lost_post_mode="drop"))) as sandbox:
        spec = write_campaign(tmp_path, jobs=2)
        first = run_campaign(load(spec), run_config(sandbox))
        summary = run_campaign(load(spec), run_config(sandbox, in_doubt_settle_seconds=0))
        assert summary.in_doubt == first.in_doubt and len(summary.in_doubt) == 1
        assert posts(sandbox) == 2 and not sandbox.counters.duplicate_payloads()


def test_a_recent_in_doubt_submission_is_not_judged_yet(tmp_path: Path) -> None:
    faults = Faults(server_error_nth=(1,), server_error_routes=("POST /videos/generation",))
    with SandboxThread(fast_sandbox(faults=faults)) as sandbox:
        spec = write_campaign(tmp_path, jobs=1)
        run_campaign(load(spec), run_config(sandbox))
        summary = run_campaign(load(spec), run_config(sandbox))  # default: judged after 120 s
        assert len(summary.in_doubt) == 1
        assert posts(sandbox) == 1


@pytest.mark.parametrize(("since_intent", "since_doubt", "settled"), [
    # The POST went out 800 s after its intent (the client waited out 429s) and created a job just now:
    # the job falls inside the span from intent to doubt, so nothing is proven and nothing is sent.
    (1000.0, 200.0, False),
    # The same creation time is far outside a span that ended 900 s ago: it cannot be this submission's job.
    (1000.0, 900.0, True),
])
def test_an_in_doubt_submission_is_judged_over_the_whole_span_its_post_could_have_gone_out(
        tmp_path: Path, since_intent: float, since_doubt: float, settled: bool) -> None:
    with SandboxThread(fast_sandbox()) as sandbox:
        spec = write_campaign(tmp_path, jobs=1)
        job = load(spec).jobs[0]
        with Ledger.open_for_run(tmp_path / "out") as ledger:
            ledger.clock_offset = 0.0  # as a run on a machine with the server's time records it
            row = ledger.register([job])[job.id]
            commit(ledger, JobTransition(row, JobState.SUBMITTING))
            commit(ledger, JobTransition(row, JobState.IN_DOUBT, error="the answer was lost"))
        now = time.time()
        with sqlite3.connect(tmp_path / "out" / LEDGER_DIR / LEDGER_FILE) as db:
            db.execute("UPDATE events SET at = ? WHERE job = ? AND to_state = 'submitting'", (now - since_intent, row))
            db.execute("UPDATE events SET at = ? WHERE job = ? AND to_state = 'in_doubt'", (now - since_doubt, row))

        async def a_job_the_ledger_never_saw() -> None:
            async with PhotoGPTClient(sandbox.base_url, "test-key", requests_per_second=None) as client:
                await client.submit(job.body)

        asyncio.run(a_job_the_ledger_never_saw())
        summary = run_campaign(load(spec), run_config(sandbox, in_doubt_settle_seconds=0))
        assert (summary.in_doubt == []) is settled
        assert posts(sandbox) == (2 if settled else 1)


@pytest.mark.parametrize("skew", [-900.0, 900.0])
def test_an_in_doubt_job_that_was_created_stays_in_doubt_when_the_clocks_disagree(tmp_path: Path,
                                                                                  skew: float) -> None:
    # The server's clock is 15 minutes off ours: its createdAt times (and Date header) are on its clock.
    faults = Faults(lost_post_nth=(1,), lost_post_mode="drop")
    with SandboxThread(fast_sandbox(faults=faults, clock=lambda: time.time() + skew)) as sandbox:
        spec = write_campaign(tmp_path, jobs=2)
        assert len(run_campaign(load(spec), run_config(sandbox)).in_doubt) == 1
        summary = run_campaign(load(spec), run_config(sandbox, in_doubt_settle_seconds=0))
        assert len(summary.in_doubt) == 1  # the job exists: sending it again would pay twice
        assert posts(sandbox) == 2 and not sandbox.counters.duplicate_payloads()


def test_an_in_doubt_submission_is_settled_across_a_clock_difference(tmp_path: Path) -> None:
    # The 500 created nothing; the server's clock is 15 minutes behind ours, and the proof still holds.
    faults = Faults(server_error_nth=(1,), server_error_routes=("POST /videos/generation",))
    with SandboxThread(fast_sandbox(faults=faults, clock=lambda: time.time() - 900)) as sandbox:
        spec = write_campaign(tmp_path, jobs=2)
        assert len(run_campaign(load(spec), run_config(sandbox)).in_doubt) == 1
        assert run_campaign(load(spec), run_config(sandbox, in_doubt_settle_seconds=0)).complete
        assert sandbox.counters.jobs_created == 2 and not sandbox.counters.duplicate_payloads()
