"""A paid version is never abandoned, on both stores: a job version that was sent, then replaced by a change of
the spec, is still polled, priced, downloaded into ``<job-id>/v<k>/`` and reported by ``status``, the run's
summary and the review page until it is done or failed; one in doubt stays reported until it is settled, and is
never sent again."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from engine_helpers import check_outputs, fast_sandbox, load, manifest, posts, run_config, wait_until, write_campaign
from pg_server import Cluster

from photogpt_batch.cli import cli
from photogpt_batch.engine import RunSummary
from photogpt_batch.ledger import JobState, Ledger, VideoState
from photogpt_batch.review import review_page_data
from photogpt_batch.runner import RunConfig, run_campaign
from photogpt_batch.sandbox import Faults, SandboxThread
from photogpt_batch.spec.selection import select_jobs

#: Run 1 must not poll before it is stopped: its first poll would come a minute after the POST.
NO_POLL = dict(poll_first_interval=60.0, poll_min_interval=60.0, poll_max_interval=60.0)


# The shared store needs a PostgreSQL cluster (initdb, pg_ctl: processes), so its runs are slow.
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def ledger_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` for the folder's SQLite ledger, else a URL to a fresh shared database."""
    if request.param == "sqlite":
        return None
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.url(cluster.new_database())


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


def config(sandbox: SandboxThread, url: str | None, **engine: Any) -> RunConfig:
    conf = run_config(sandbox, **engine)
    conf.ledger_url = url
    return conf


def run_stopped_when(spec: Path, conf: RunConfig, ready: Callable[[], Any], then: Callable[[], None] = lambda: None
                     ) -> RunSummary:
    """Run ``spec`` and stop it as a user's SIGTERM would, once ``ready()`` holds (after calling ``then``)."""
    def stop() -> None:
        wait_until(ready, timeout=30)
        then()
        os.kill(os.getpid(), signal.SIGTERM)  # the run's own handler: stop cleanly, record what was sent

    stopper = threading.Thread(target=stop, daemon=True)
    stopper.start()
    summary = run_campaign(load(spec), conf)
    stopper.join(timeout=30)
    assert summary.interrupted
    return summary


def status(spec: Path, url: str | None, *extra: str) -> Result:
    return CliRunner().invoke(cli, ["status", str(spec), *extra, *(["--ledger", url] if url else [])])


def earlier_versions(output: Path, url: str | None) -> list[Any]:
    with Ledger.open_for_reading(output, url=url, campaign="t") as ledger:
        return [r for r in ledger.versions("clip-1") if not r.current]


def review_earlier(spec: Path, url: str | None) -> list[dict[str, Any]]:
    campaign = load(spec)
    with Ledger.open_for_reading(campaign.output, url=url, campaign="t") as ledger:
        return review_page_data(campaign, ledger)["jobs"][0]["earlierVersions"]


def edit_prompt(spec: Path) -> None:
    spec.write_text(spec.read_text().replace('prompt: "shot number {i}"', 'prompt: "shot number {i}, at dusk"'))


def test_a_version_interrupted_after_its_post_then_changed_is_followed_to_its_end(
        tmp_path: Path, sandbox: SandboxThread, ledger_url: str | None) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    output = tmp_path / "out"

    def keep_generating() -> None:  # the server takes its time with version 1
        for job in sandbox.jobs.values():
            job.finished_at = time.time() + 3600

    # Run 1 stops once its POST is answered: version 1 is submitted (paid), never polled.
    run_stopped_when(spec, config(sandbox, ledger_url, **NO_POLL), lambda: sandbox.jobs, keep_generating)
    with Ledger.open_for_reading(output, url=ledger_url, campaign="t") as ledger:
        assert [r.state for r in ledger.versions("clip-1")] == [JobState.SUBMITTED]
    edit_prompt(spec)

    # Run 2 sends version 2 and is stopped once its video is on disk: version 1 is still generating.
    run_stopped_when(spec, config(sandbox, ledger_url), lambda: [e for e in manifest(output) if e["current"]])
    assert posts(sandbox) == 2
    (v1,) = earlier_versions(output, ledger_url)
    assert v1.state == JobState.SUBMITTED and v1.remote_id
    shown = status(spec, ledger_url)
    assert shown.exit_code == 1, shown.output  # every current job is done, but a paid version is not
    assert "v1 (earlier; current is v2)" in shown.output and "not finished" in shown.output
    as_json = json.loads(status(spec, ledger_url, "--json").output)
    assert not as_json["complete"]
    assert as_json["earlierUnfinished"] == [{"job": "clip-1", "version": 1, "ledgerState": "submitted"}]
    assert [(e["version"], e["finished"]) for e in review_earlier(spec, ledger_url)] == [(1, False)]

    # The server finishes version 1: the next run polls it, prices it and keeps its video in v1/.
    for job in sandbox.jobs.values():
        job.finished_at = min(job.finished_at, time.time())
    summary = run_campaign(load(spec), config(sandbox, ledger_url))

    assert summary.complete and not summary.earlier_unfinished
    assert posts(sandbox) == 2  # nothing is sent again
    (v1,) = earlier_versions(output, ledger_url)
    assert v1.state == JobState.SUCCEEDED and v1.credits is not None
    assert [(v.state, v.path) for v in v1.videos] == [(VideoState.DOWNLOADED, "clip-1/v1/1.mp4")]
    check_outputs(output, 1)
    assert sorted((e["path"], e["version"], e["current"]) for e in manifest(output)) == [
        ("clip-1/1.mp4", 2, True), ("clip-1/v1/1.mp4", 1, False)]
    assert {e["jobId"] for e in manifest(output) if not e["current"]} == {v1.remote_id}
    shown = status(spec, ledger_url)
    assert shown.exit_code == 0, shown.output
    assert "clip-1/v1/1.mp4" in shown.output and "not finished" not in shown.output
    assert json.loads(status(spec, ledger_url, "--json").output)["credits"]["pending"] == 0
    (page,) = review_earlier(spec, ledger_url)
    assert page["finished"] and page["credits"] == v1.credits
    assert [v["src"] for v in page["videos"]] == ["clip-1/v1/1.mp4"]


def test_an_earlier_version_in_doubt_stays_reported_until_settled_and_is_never_sent_again(
        tmp_path: Path, ledger_url: str | None) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    output = tmp_path / "out"
    with SandboxThread(fast_sandbox(faults=Faults(lost_post_nth=(1,), lost_post_mode="drop"))) as sandbox:
        first = run_campaign(load(spec), config(sandbox, ledger_url))
        assert first.in_doubt == ["clip-1"]
        edit_prompt(spec)

        for _ in range(2):  # reported on every run, and never sent again
            summary = run_campaign(load(spec), config(sandbox, ledger_url))
            assert summary.succeeded == 1 and summary.videos_downloaded == 1
            assert not summary.complete
            assert summary.earlier_unfinished == [("clip-1 v1", "in_doubt")]
            assert posts(sandbox) == 2
            shown = status(spec, ledger_url)
            assert shown.exit_code == 1 and "clip-1 v1 in_doubt" in shown.output, shown.output

        # The user checked the dashboard: --resubmit-in-doubt closes it, unsent (its content is no longer wanted).
        final = run_campaign(load(spec), config(sandbox, ledger_url, resubmit_in_doubt=True))
        assert final.complete and posts(sandbox) == 2
    (v1,) = earlier_versions(output, ledger_url)
    assert v1.state == JobState.FAILED and "not sent again" in (v1.error or "")
    assert status(spec, ledger_url).exit_code == 0
    check_outputs(output, 1)


# ---- jobs the run does not hold: removed from the spec, or left out by --only ---------------------------------

def keep_jobs(spec: Path, *numbers: int) -> None:
    """Keep only the jobs ``clip-<n>`` of a `write_campaign` spec of two jobs (the others are removed from it)."""
    spec.write_text(spec.read_text().replace("i: [1, 2]", f"i: {list(numbers)}"))


def hold_on_server(sandbox: SandboxThread) -> None:
    """The server takes its time with every job sent so far."""
    for job in sandbox.jobs.values():
        job.finished_at = time.time() + 3600


def finish_on_server(sandbox: SandboxThread) -> None:
    for job in sandbox.jobs.values():
        job.finished_at = min(job.finished_at, time.time())


def test_a_job_removed_from_the_spec_after_its_post_is_followed_into_its_own_paths(
        tmp_path: Path, sandbox: SandboxThread, ledger_url: str | None) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    output = tmp_path / "out"
    # Run 1 stops once both POSTs are answered; run 2 (prompts edited) once both new versions are: every version
    # is sent and paid for, none polled.
    run_stopped_when(spec, config(sandbox, ledger_url, **NO_POLL), lambda: len(sandbox.jobs) == 2,
                     lambda: hold_on_server(sandbox))
    edit_prompt(spec)
    run_stopped_when(spec, config(sandbox, ledger_url, **NO_POLL), lambda: len(sandbox.jobs) == 4,
                     lambda: hold_on_server(sandbox))
    keep_jobs(spec, 1)  # clip-2 is removed from the spec: orphaned, with its v1 and v2 both generating

    shown = status(spec, ledger_url)
    assert shown.exit_code == 1, shown.output
    assert "clip-2 v1 submitted, removed from the spec" in shown.output
    assert [(e["job"], e["version"], e["inSpec"]) for e in json.loads(status(spec, ledger_url, "--json").output)[
        "outsideUnfinished"]] == [("clip-2", 1, False), ("clip-2", 2, False)]

    finish_on_server(sandbox)
    summary = run_campaign(load(spec), config(sandbox, ledger_url))

    assert posts(sandbox) == 4  # nothing is sent again, the orphan least of all
    with Ledger.open_for_reading(output, url=ledger_url, campaign="t") as ledger:
        v1, v2 = ledger.versions("clip-2")
    assert v1.state == v2.state == JobState.SUCCEEDED and v1.credits is not None and v2.credits is not None
    # Its current version where the layout puts a job's videos, its earlier one in v1/.
    assert [v.path for v in v2.videos] == ["clip-2/1.mp4"] and [v.path for v in v1.videos] == ["clip-2/v1/1.mp4"]
    assert (output / "clip-2" / "1.mp4").is_file() and (output / "clip-2" / "v1" / "1.mp4").is_file()
    assert sorted((e["path"], e["version"], e["current"]) for e in manifest(output) if e["job"] == "clip-2") == [
        ("clip-2/1.mp4", 2, True), ("clip-2/v1/1.mp4", 1, False)]
    assert summary.complete and not summary.outside_unfinished, summary
    shown = status(spec, ledger_url)
    assert shown.exit_code == 0, shown.output
    assert json.loads(status(spec, ledger_url, "--json").output)["credits"]["pending"] == 0


def test_a_job_left_out_by_only_is_followed_but_never_sent(
        tmp_path: Path, sandbox: SandboxThread, ledger_url: str | None) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    output = tmp_path / "out"
    run_stopped_when(spec, config(sandbox, ledger_url, **NO_POLL), lambda: len(sandbox.jobs) == 2,
                     lambda: hold_on_server(sandbox))

    shown = status(spec, ledger_url, "--only", "clip-1")
    assert shown.exit_code == 1, shown.output  # clip-1 is generating; clip-2, left out, too
    assert json.loads(status(spec, ledger_url, "--only", "clip-1", "--json").output)["outsideUnfinished"] == [
        {"job": "clip-2", "version": 1, "ledgerState": "submitted", "inSpec": True}]

    finish_on_server(sandbox)
    campaign = load(spec)
    select_jobs(campaign, ["clip-1"])
    summary = run_campaign(campaign, config(sandbox, ledger_url))

    assert posts(sandbox) == 2
    with Ledger.open_for_reading(output, url=ledger_url, campaign="t") as ledger:
        (clip2,) = ledger.versions("clip-2")
    assert clip2.state == JobState.SUCCEEDED and clip2.credits is not None
    assert [(v.state, v.path) for v in clip2.videos] == [(VideoState.DOWNLOADED, "clip-2/1.mp4")]
    assert summary.complete, summary
    check_outputs(output, 2)
    assert status(spec, ledger_url, "--only", "clip-1").exit_code == 0


def test_an_orphan_in_doubt_stays_reported_and_is_closed_unsent(tmp_path: Path, ledger_url: str | None) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    output = tmp_path / "out"
    with SandboxThread(fast_sandbox(faults=Faults(lost_post_nth=(1,), lost_post_mode="drop"))) as sandbox:
        first = run_campaign(load(spec), config(sandbox, ledger_url))
        (doubted,) = first.in_doubt
        keep_jobs(spec, 2 if doubted == "clip-1" else 1)  # the job in doubt is removed from the spec

        for _ in range(2):  # reported on every run, and never sent again
            summary = run_campaign(load(spec), config(sandbox, ledger_url))
            assert summary.outside_unfinished == [(f"{doubted} v1", "in_doubt", False)] and not summary.complete
            assert posts(sandbox) == 2
            shown = status(spec, ledger_url)
            assert shown.exit_code == 1 and f"{doubted} v1 in_doubt, removed from the spec" in shown.output

        # The user checked the dashboard: --resubmit-in-doubt closes it, unsent (the spec no longer has it).
        final = run_campaign(load(spec), config(sandbox, ledger_url, resubmit_in_doubt=True))
        assert final.complete and posts(sandbox) == 2
    with Ledger.open_for_reading(output, url=ledger_url, campaign="t") as ledger:
        (orphan,) = ledger.versions(doubted)
    assert orphan.state == JobState.FAILED and "not sent again" in (orphan.error or "")
    assert status(spec, ledger_url).exit_code == 0


def test_a_doubt_of_a_job_left_out_by_only_is_left_for_a_run_that_selects_it(
        tmp_path: Path, ledger_url: str | None) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    with SandboxThread(fast_sandbox(faults=Faults(lost_post_nth=(1,), lost_post_mode="drop"))) as sandbox:
        (doubted,) = run_campaign(load(spec), config(sandbox, ledger_url)).in_doubt
        campaign = load(spec)
        select_jobs(campaign, ["clip-2" if doubted == "clip-1" else "clip-1"])
        summary = run_campaign(campaign, config(sandbox, ledger_url, resubmit_in_doubt=True))
        # Reported, but neither sent again nor closed: the user left that job out.
        assert summary.outside_unfinished == [(f"{doubted} v1", "in_doubt", True)] and not summary.complete
        assert posts(sandbox) == 2
        with Ledger.open_for_reading(tmp_path / "out", url=ledger_url, campaign="t") as ledger:
            assert [r.state for r in ledger.versions(doubted)] == [JobState.IN_DOUBT]
