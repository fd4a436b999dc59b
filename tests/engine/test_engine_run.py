"""The engine against the sandbox: a run downloads everything, a rerun sends nothing, changes resubmit."""

from __future__ import annotations

import io
import shutil
import sqlite3
from pathlib import Path

import pytest
from engine_helpers import check_outputs, fast_sandbox, load, manifest, posts, run_config, write_campaign
from ledger_writes import commit

from photogpt_batch.ledger import LEDGER_DIR, LEDGER_FILE, Ledger
from photogpt_batch.runner import ConfigError, run_campaign
from photogpt_batch.sandbox import SandboxConfig, SandboxThread
from photogpt_batch.views.plan import make_plan


@pytest.fixture
def sandbox():
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


def test_run_downloads_every_video_and_writes_the_manifest(tmp_path: Path, sandbox: SandboxThread) -> None:
    campaign = load(write_campaign(tmp_path, jobs=4, num_videos=2))
    summary = run_campaign(campaign, run_config(sandbox))
    assert summary.complete
    assert (summary.jobs, summary.succeeded, summary.videos_downloaded) == (4, 4, 8)
    entries = check_outputs(tmp_path / "out", 8)
    assert sorted(e["path"] for e in entries) == sorted(f"clip-{i}/{n}.mp4" for i in range(1, 5) for n in (1, 2))
    assert {e["job"] for e in entries} == {f"clip-{i}" for i in range(1, 5)}
    assert all(e["jobId"] and e["videoId"] and e["model"] == "grok-imagine-1.5" for e in entries)


def test_requests_sent_are_exactly_the_planned_bodies(tmp_path: Path, sandbox: SandboxThread) -> None:
    campaign = load(write_campaign(tmp_path, jobs=3))
    run_campaign(campaign, run_config(sandbox))
    bodies = {job.body["prompt"]: job.body for job in campaign.jobs}
    created = [job.body for job in sandbox.jobs.values()]
    assert sorted(b["prompt"] for b in created) == sorted(bodies)
    for body in created:
        assert body == bodies[body["prompt"]]


def test_rerun_of_an_unchanged_spec_sends_no_submission(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=3)
    run_campaign(load(spec), run_config(sandbox))
    before = posts(sandbox)
    summary = run_campaign(load(spec), run_config(sandbox))
    assert summary.complete
    assert posts(sandbox) == before == 3
    assert sandbox.counters.requests.get("GET /videos/{id}/create-download", 0) == 3


def test_changed_job_is_resubmitted_and_others_left_alone(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    run_campaign(load(spec), run_config(sandbox))
    spec.write_text(spec.read_text().replace("duration: 3", "duration: 4"))
    changed = load(spec)
    assert {str(i.disposition) for i in make_plan(changed).reconciliation.jobs} == {"changed"}
    summary = run_campaign(changed, run_config(sandbox))
    assert summary.complete
    assert posts(sandbox) == 4
    with Ledger.open_for_reading(tmp_path / "out") as ledger:
        versions = ledger.versions("clip-1")
    assert [v.current for v in versions] == [False, True]
    assert versions[0].remote_id != versions[1].remote_id
    check_outputs(tmp_path / "out", 2)


def test_a_changed_job_keeps_the_earlier_versions_videos(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=1, num_videos=2)
    output = tmp_path / "out"
    run_campaign(load(spec), run_config(sandbox))
    first = {n: (output / "clip-1" / f"{n}.mp4").read_bytes() for n in (1, 2)}
    spec.write_text(spec.read_text().replace("duration: 3", "duration: 4"))
    assert run_campaign(load(spec), run_config(sandbox)).complete
    spec.write_text(spec.read_text().replace("duration: 4", "duration: 5"))
    assert run_campaign(load(spec), run_config(sandbox)).complete

    # The paid version 1 is kept, byte for byte, in its own folder; so is version 2; version 3 is in place.
    assert {n: (output / "clip-1" / "v1" / f"{n}.mp4").read_bytes() for n in (1, 2)} == first
    assert sorted(p.relative_to(output).as_posix() for p in (output / "clip-1").rglob("*")) == [
        "clip-1/1.mp4", "clip-1/2.mp4", "clip-1/v1", "clip-1/v1/1.mp4", "clip-1/v1/2.mp4",
        "clip-1/v2", "clip-1/v2/1.mp4", "clip-1/v2/2.mp4"]
    rows = [(e["path"], e["version"], e["current"]) for e in manifest(output)]
    assert sorted(rows) == [("clip-1/1.mp4", 3, True), ("clip-1/2.mp4", 3, True),
                            ("clip-1/v1/1.mp4", 1, False), ("clip-1/v1/2.mp4", 1, False),
                            ("clip-1/v2/1.mp4", 2, False), ("clip-1/v2/2.mp4", 2, False)]
    check_outputs(output, 2)
    with Ledger.open_for_reading(output) as ledger:
        assert [v.path for r in ledger.versions("clip-1") for v in r.videos] == [
            "clip-1/v1/1.mp4", "clip-1/v1/2.mp4", "clip-1/v2/1.mp4", "clip-1/v2/2.mp4", "clip-1/1.mp4", "clip-1/2.mp4"]


def test_going_back_to_an_earlier_content_puts_its_videos_back_in_place(tmp_path: Path,
                                                                       sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    output = tmp_path / "out"
    original = spec.read_text()
    run_campaign(load(spec), run_config(sandbox))
    first = (output / "clip-1" / "1.mp4").read_bytes()
    spec.write_text(original.replace("duration: 3", "duration: 4"))
    run_campaign(load(spec), run_config(sandbox))
    second = (output / "clip-1" / "1.mp4").read_bytes()
    spec.write_text(original)

    assert run_campaign(load(spec), run_config(sandbox)).complete

    assert posts(sandbox) == 2  # version 1 is done: nothing is paid again
    assert (output / "clip-1" / "1.mp4").read_bytes() == first
    assert (output / "clip-1" / "v2" / "1.mp4").read_bytes() == second
    assert not (output / "clip-1" / "v1").exists()  # emptied by the move back, and removed
    check_outputs(output, 1)


def test_an_earlier_version_whose_file_an_older_release_replaced_is_not_taken_for_it(
        tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    output = tmp_path / "out"
    original = spec.read_text()
    run_campaign(load(spec), run_config(sandbox))
    spec.write_text(original.replace("duration: 3", "duration: 4"))
    run_campaign(load(spec), run_config(sandbox))
    # As an older release left it: both versions record clip-1/1.mp4, which holds the current one's video.
    shutil.rmtree(output / "clip-1" / "v1")
    with sqlite3.connect(output / LEDGER_DIR / LEDGER_FILE) as db:
        db.execute("UPDATE videos SET path = 'clip-1/1.mp4'")
    current = (output / "clip-1" / "1.mp4").read_bytes()

    assert run_campaign(load(spec), run_config(sandbox)).complete

    assert (output / "clip-1" / "1.mp4").read_bytes() == current
    # Version 1's video (paid, its file lost) is fetched again, free, into its own folder: never onto 1.mp4.
    assert (output / "clip-1" / "v1" / "1.mp4").read_bytes() != current
    with Ledger.open_for_reading(output) as ledger:
        assert [(str(v.state), v.path) for r in ledger.versions("clip-1") for v in r.videos] == [
            ("downloaded", "clip-1/v1/1.mp4"), ("downloaded", "clip-1/1.mp4")]
    assert posts(sandbox) == 2
    check_outputs(output, 1)


def test_an_earlier_versions_video_that_cannot_be_moved_is_kept_and_the_new_one_fails(
        tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    output = tmp_path / "out"
    run_campaign(load(spec), run_config(sandbox))
    paid = (output / "clip-1" / "1.mp4").read_bytes()
    (output / "clip-1" / "v1").write_text("a file where the v1 folder would go")
    spec.write_text(spec.read_text().replace("duration: 3", "duration: 4"))

    summary = run_campaign(load(spec), run_config(sandbox))

    assert not summary.complete and summary.video_failures
    assert (output / "clip-1" / "1.mp4").read_bytes() == paid


def test_job_removed_from_the_spec_is_orphaned_not_deleted(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=3)
    run_campaign(load(spec), run_config(sandbox))
    spec.write_text(spec.read_text().replace("i: [1, 2, 3]", "i: [1, 2]"))
    plan = make_plan(load(spec))
    assert plan.orphaned == ["clip-3"]
    assert (tmp_path / "out" / "clip-3" / "1.mp4").exists()


def test_failed_generation_is_reported_and_retried_only_on_request(tmp_path: Path) -> None:
    from photogpt_batch.sandbox import Faults

    with SandboxThread(fast_sandbox(faults=Faults(fail_nth=(1,)))) as sandbox:
        spec = write_campaign(tmp_path, jobs=2)
        summary = run_campaign(load(spec), run_config(sandbox))
        assert not summary.complete
        assert len(summary.failed) == 1 and "could not render" in summary.failed[0][1]
        run_campaign(load(spec), run_config(sandbox))
        assert posts(sandbox) == 2  # a plain rerun does not pay again
        summary = run_campaign(load(spec), run_config(sandbox, retry_failed=True))
        assert summary.complete
        assert posts(sandbox) == 3
        check_outputs(tmp_path / "out", 2)


def test_a_second_runner_on_the_same_output_is_refused(tmp_path: Path, sandbox: SandboxThread) -> None:
    campaign = load(write_campaign(tmp_path, jobs=1))
    holder = Ledger.open_for_run(tmp_path / "out")
    try:
        with pytest.raises(ConfigError, match="another"):
            run_campaign(campaign, run_config(sandbox))
    finally:
        holder.close()
    assert posts(sandbox) == 0


def test_a_refused_key_stops_before_anything_is_sent(tmp_path: Path) -> None:
    with SandboxThread(fast_sandbox(api_key="the-right-key")) as sandbox:
        campaign = load(write_campaign(tmp_path, jobs=2))
        with pytest.raises(ConfigError, match="refused the key"):
            run_campaign(campaign, run_config(sandbox, key="a-wrong-key"))
        assert posts(sandbox) == 0


def test_a_foreign_file_where_a_video_goes_is_moved_aside_not_trusted(tmp_path: Path, sandbox: SandboxThread) -> None:
    campaign = load(write_campaign(tmp_path, jobs=1))
    target = tmp_path / "out" / "clip-1" / "1.mp4"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the video")
    assert run_campaign(campaign, run_config(sandbox)).complete
    check_outputs(tmp_path / "out", 1)
    aside = list(target.parent.glob("1.mp4.untrusted-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == b"not the video"


def test_a_copy_set_aside_by_a_run_killed_before_it_downloaded_is_cleared_later(tmp_path: Path,
                                                                              sandbox: SandboxThread) -> None:
    from photogpt_batch.ledger import VideoState, VideoTransition

    spec = write_campaign(tmp_path, jobs=1)
    assert run_campaign(load(spec), run_config(sandbox)).complete
    video = tmp_path / "out" / "clip-1" / "1.mp4"
    # As a run leaves it that crashed after a rename and before its record, and whose successor was killed
    # right after setting the unrecorded file aside: the video pending, its bytes aside, and a stranger beside.
    with Ledger.open_for_run(tmp_path / "out") as ledger:
        record = ledger.job("clip-1")
        assert record is not None
        commit(ledger, VideoTransition(record.row, 1, VideoState.PENDING))
    copy = video.with_name("1.mp4.untrusted-1")
    video.rename(copy)
    stranger = video.with_name("1.mp4.untrusted-2")
    stranger.write_bytes(b"someone else's")
    assert run_campaign(load(spec), run_config(sandbox)).complete
    assert sorted(p.name for p in video.parent.iterdir()) == ["1.mp4", "1.mp4.untrusted-2"]
    check_outputs(tmp_path / "out", 1)


def test_a_damaged_download_is_fetched_again_without_resubmitting(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    run_campaign(load(spec), run_config(sandbox))
    target = tmp_path / "out" / "clip-2" / "1.mp4"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF  # same size, different content
    target.write_bytes(bytes(data))
    summary = run_campaign(load(spec), run_config(sandbox))
    assert summary.complete
    assert posts(sandbox) == 2
    check_outputs(tmp_path / "out", 2)


def test_a_deleted_download_is_fetched_again(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    run_campaign(load(spec), run_config(sandbox))
    (tmp_path / "out" / "clip-1" / "1.mp4").unlink()
    assert run_campaign(load(spec), run_config(sandbox)).complete
    check_outputs(tmp_path / "out", 2)


def test_a_foreign_file_at_the_ledger_path_is_refused_and_kept(tmp_path: Path, sandbox: SandboxThread) -> None:
    campaign = load(write_campaign(tmp_path, jobs=1))
    ledger_file = tmp_path / "out" / ".photogpt-batch" / "ledger.sqlite3"
    ledger_file.parent.mkdir(parents=True)
    ledger_file.write_bytes(b"my notes, not a database")
    with pytest.raises(ConfigError):
        run_campaign(campaign, run_config(sandbox))
    assert ledger_file.read_bytes() == b"my notes, not a database"
    assert posts(sandbox) == 0


def test_no_request_to_the_file_origin_carries_the_key(tmp_path: Path, sandbox: SandboxThread) -> None:
    run_campaign(load(write_campaign(tmp_path, jobs=3)), run_config(sandbox, key="sk-distinctive-0123456789"))
    assert sandbox.counters.credentialed_file_requests == 0
    assert sandbox.counters.requests.get("GET /files/{name}", 0) >= 3


def test_sandbox_quick_preset_runs_the_demo_spec(tmp_path: Path) -> None:
    demo = load(Path(__file__).parents[2] / "specs" / "demo.yaml")
    demo.output = tmp_path / "demo"
    with SandboxThread(SandboxConfig.quick()) as sandbox:
        summary = run_campaign(demo, run_config(sandbox))
    assert summary.complete
    check_outputs(tmp_path / "demo", sum(job.num_videos for job in demo.jobs))


def test_an_unrecorded_copy_of_the_same_video_is_not_left_behind(tmp_path: Path, sandbox: SandboxThread) -> None:
    # As after a crash between a download's rename and its record: the file is complete but not vouched for.
    from photogpt_batch.ledger import VideoState, VideoTransition

    spec = write_campaign(tmp_path, jobs=1)
    run_campaign(load(spec), run_config(sandbox))
    with Ledger.open_for_run(tmp_path / "out") as ledger:
        row = ledger.jobs()[0].row
        commit(ledger, VideoTransition(row, 1, VideoState.PENDING))
    assert run_campaign(load(spec), run_config(sandbox)).complete
    assert sorted(p.name for p in (tmp_path / "out" / "clip-1").iterdir()) == ["1.mp4"]
    check_outputs(tmp_path / "out", 1)


def test_a_partial_file_another_version_left_is_not_resumed_when_the_spec_goes_back(
        tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    first = spec.read_text()
    run_campaign(load(spec), run_config(sandbox))
    output = tmp_path / "out"
    # As if version A's download had been cut (its video ready, no file), then version B had been planned and
    # had written its own .part before it was cut too; then the spec went back to A.
    with sqlite3.connect(output / LEDGER_DIR / LEDGER_FILE) as db:
        db.execute("UPDATE videos SET state = 'ready', path = NULL, bytes = NULL, sha256 = NULL")
    (output / "clip-1" / "1.mp4").unlink()
    (output / "clip-1" / "1.mp4.part").write_bytes(b"B" * 5000)
    spec.write_text(first.replace("duration: 3", "duration: 4"))
    with Ledger.open_for_run(output) as ledger:
        ledger.register(load(spec).jobs)
    spec.write_text(first)

    summary = run_campaign(load(spec), run_config(sandbox))

    assert summary.complete
    check_outputs(output, 1)  # the whole file is version A's video: no byte of B's .part in it


def test_a_folder_rehearsed_on_the_sandbox_is_refused_for_a_real_run_and_back(
        tmp_path: Path, sandbox: SandboxThread, fast_in_process_runs: None) -> None:
    from engine_helpers import engine_options

    from photogpt_batch.runner import RunConfig

    spec = write_campaign(tmp_path, jobs=1)
    rehearsal = RunConfig(sandbox=True, requests_per_second=1000, engine=engine_options())
    assert run_campaign(load(spec), rehearsal).complete
    # The rehearsal's jobs do not exist on the API: polled there they would fail, and its videos are no
    # campaign's output.
    with pytest.raises(ConfigError, match=r"made through the sandbox \(run --sandbox\)"):
        run_campaign(load(spec), run_config(sandbox))
    assert posts(sandbox) == 0
    real = tmp_path / "real"
    spec.write_text(spec.read_text().replace(f"output: {tmp_path / 'out'}", f"output: {real}"))
    assert run_campaign(load(spec), run_config(sandbox)).complete
    with pytest.raises(ConfigError, match=f"made through {sandbox.base_url.rsplit('/api', 1)[0]}"):
        run_campaign(load(spec), rehearsal)


def test_a_second_campaign_in_the_same_folder_is_refused(tmp_path: Path, sandbox: SandboxThread) -> None:
    first = write_campaign(tmp_path, jobs=2, name="first")
    assert run_campaign(load(first), run_config(sandbox)).complete
    second = write_campaign(tmp_path, jobs=2, name="second")  # same output, same job ids, other prompts
    second.write_text(second.read_text().replace("shot number", "another shot"))
    with pytest.raises(ConfigError, match="belongs to campaign 'first', not 'second'"):
        run_campaign(load(second), run_config(sandbox))
    assert posts(sandbox) == 2
    check_outputs(tmp_path / "out", 2)


def test_a_run_that_sent_nothing_does_not_hold_the_folder(
        tmp_path: Path, sandbox: SandboxThread, fast_retries: None) -> None:
    from photogpt_batch.runner import RunConfig

    spec = write_campaign(tmp_path, jobs=1)
    mistyped = RunConfig(base_url="http://127.0.0.1:1/api", api_key="k")
    with pytest.raises(ConfigError, match="nothing was sent"):
        run_campaign(load(spec), mistyped)
    assert run_campaign(load(spec), run_config(sandbox)).complete  # the corrected rerun is not refused
    other = write_campaign(tmp_path, jobs=1, name="other")
    with pytest.raises(ConfigError, match="belongs to campaign 't'"):
        run_campaign(load(other), run_config(sandbox))


def test_another_api_of_the_same_kind_is_followed_with_a_warning(tmp_path: Path, sandbox: SandboxThread) -> None:
    from photogpt_batch.engine.progress import Progress

    spec = write_campaign(tmp_path, jobs=2)
    assert run_campaign(load(spec), run_config(sandbox)).complete
    with SandboxThread(fast_sandbox()) as moved:  # another port on this machine, as localhost vs 127.0.0.1
        notes = io.StringIO()
        summary = run_campaign(load(spec), run_config(moved), Progress(2, stream=notes, interactive=False))
    assert summary.complete and posts(moved) == 0
    assert "were made through " + sandbox.base_url.rsplit("/api", 1)[0] in notes.getvalue()


def test_a_folder_rehearsed_before_the_record_existed_is_still_known_as_a_rehearsal(
        tmp_path: Path, sandbox: SandboxThread, fast_in_process_runs: None) -> None:
    from engine_helpers import engine_options

    from photogpt_batch.runner import RunConfig

    spec = write_campaign(tmp_path, jobs=1)
    assert run_campaign(load(spec), RunConfig(sandbox=True, requests_per_second=1000, engine=engine_options()))
    with sqlite3.connect(tmp_path / "out" / LEDGER_DIR / LEDGER_FILE) as db:
        db.execute("DELETE FROM meta")  # as a ledger migrated from schema 2 leaves it
    with pytest.raises(ConfigError, match=r"made through the sandbox \(run --sandbox\)"):
        run_campaign(load(spec), run_config(sandbox))
