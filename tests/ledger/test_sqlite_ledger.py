"""The SQLite ledger: schema and migrations, transitions, durability, group commit, lock, reconciliation."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_writes import commit

from photogpt_batch.campaign import PlannedJob, content_hash
from photogpt_batch.ledger import (
    APPLICATION_ID,
    JOB_TRANSITIONS,
    LAZY_COMMIT_DELAY,
    SCHEMA_VERSION,
    Disposition,
    IllegalTransition,
    JobState,
    JobTransition,
    Ledger,
    LedgerCorrupt,
    LedgerLocked,
    LedgerTooNew,
    MoveVideo,
    ReadOnlyLedger,
    SqliteLedger,
    UnknownRecord,
    VideoState,
    VideoTransition,
    ledger_path,
)

REPO = Path(__file__).resolve().parents[2]


def planned(job_id: str, prompt: str = "a cat on a skateboard", n: int = 1) -> PlannedJob:
    body = {"modelID": "veo-3.1", "prompt": prompt, "numVideos": n}
    return PlannedJob(job_id, "veo-3.1", body, content_hash(body))


@pytest.fixture
def output(tmp_path: Path) -> Path:
    return tmp_path / "campaign-out"


@pytest.fixture
async def ledger(output: Path) -> AsyncIterator[Ledger]:
    opened = Ledger.open_for_run(output)
    yield opened
    await opened.aclose()


def run_child(code: str, *args: str) -> subprocess.Popen[str]:
    """A Python child with the repository importable, talking over pipes."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def reap(child: subprocess.Popen[str]) -> None:
    """Make sure a child is gone and its pipes closed, whatever the test did."""
    if child.poll() is None:
        child.kill()
    child.wait(timeout=10)
    for pipe in (child.stdin, child.stdout, child.stderr):
        if pipe is not None:
            pipe.close()


def columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


# ---- schema and migrations ------------------------------------------------------------------------------

# Version 1 exactly as released: a migration test must not follow later edits of MIGRATIONS[0].
V1_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (1);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY, job_id TEXT NOT NULL, content_hash TEXT NOT NULL, model TEXT NOT NULL,
    body TEXT NOT NULL, state TEXT NOT NULL, remote_id TEXT, error TEXT, err TEXT, credits REAL,
    current INTEGER NOT NULL DEFAULT 1 CHECK (current IN (0, 1)), created_at REAL NOT NULL,
    updated_at REAL NOT NULL, UNIQUE (job_id, content_hash)
);
CREATE UNIQUE INDEX jobs_current_job_id ON jobs (job_id) WHERE current = 1;
CREATE TABLE videos (
    job INTEGER NOT NULL REFERENCES jobs (id), n INTEGER NOT NULL CHECK (n >= 1), video_id TEXT,
    state TEXT NOT NULL, url TEXT, path TEXT, bytes INTEGER, sha256 TEXT, error TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (job, n)
);
INSERT INTO jobs (job_id, content_hash, model, body, state, remote_id, created_at, updated_at)
    VALUES ('old', 'h1', 'veo-3.1', '{}', 'submitted', 'job_7', 1.0, 1.0);
"""


def test_a_new_ledger_uses_wal_full_sync_and_the_latest_schema(output: Path) -> None:
    with Ledger.open_for_run(output):
        pass
    with sqlite3.connect(ledger_path(output)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


async def test_the_writer_connection_syncs_fully(ledger: Ledger) -> None:
    # 2 = FULL: every commit fsyncs the WAL.
    assert ledger._wconn is not None
    assert ledger._wconn.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_a_version_1_ledger_is_migrated_to_the_latest_with_its_data(output: Path) -> None:
    path = ledger_path(output)
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    assert "attempts" not in columns(path, "jobs")

    with Ledger.open_for_run(output) as ledger:
        record = ledger.job("old")

    assert record is not None and (record.state, record.remote_id, record.attempts) == ("submitted", "job_7", 0)
    assert {"attempts", "submitted_at"} <= columns(path, "jobs")
    assert columns(path, "events") == {"id", "at", "job", "n", "from_state", "to_state", "detail", "clock_offset"}
    assert columns(path, "meta") == {"key", "value"}
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_reading_a_version_1_ledger_migrates_it_first(output: Path) -> None:
    path = ledger_path(output)
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    with Ledger.open_for_reading(output) as reader:
        assert [(r.job_id, r.attempts) for r in reader.jobs()] == [("old", 0)]


def test_a_ledger_from_a_newer_version_is_refused_untouched(output: Path) -> None:
    with Ledger.open_for_run(output):
        pass
    path = ledger_path(output)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    before = path.read_bytes()

    with pytest.raises(LedgerTooNew, match="99"):
        Ledger.open_for_run(output)
    with pytest.raises(LedgerTooNew):
        Ledger.open_for_reading(output)
    assert path.read_bytes() == before


def test_a_file_that_is_not_sqlite_is_refused_untouched(output: Path) -> None:
    path = ledger_path(output)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"my precious notes, not a database\n" * 100)
    before = path.read_bytes()

    with pytest.raises(LedgerCorrupt) as caught:
        Ledger.open_for_run(output)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before
    with pytest.raises(LedgerCorrupt):
        Ledger.open_for_reading(output)


def test_a_foreign_sqlite_database_is_refused_untouched(output: Path) -> None:
    path = ledger_path(output)
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
        conn.execute("INSERT INTO customers VALUES ('ada')")
    before = path.read_bytes()

    with pytest.raises(LedgerCorrupt, match="not a photogpt-batch ledger"):
        Ledger.open_for_run(output)
    assert path.read_bytes() == before


# ---- transitions ----------------------------------------------------------------------------------------


async def test_a_job_walks_from_planned_to_downloaded(ledger: Ledger) -> None:
    row = ledger.register([planned("a")])["a"]

    await ledger.mark_submitting(row)
    await ledger.mark_submitted(row, "job_1")
    await ledger.mark_succeeded(row, ["vid_1"], credits=12.5)
    await ledger.mark_video_preparing(row, 1)
    await ledger.mark_video_ready(row, 1, "https://cdn.example/signed")
    await ledger.mark_video_downloaded(row, 1, "a/1.mp4", 1234, "ab" * 32)

    record = ledger.record(row)
    assert (record.state, record.remote_id, record.credits, record.attempts) == ("succeeded", "job_1", 12.5, 1)
    video = record.videos[0]
    assert (video.video_id, video.state, video.path, video.bytes) == ("vid_1", "downloaded", "a/1.mp4", 1234)
    assert [(e.from_state, e.to_state) for e in ledger.events(row)][-1] == ("ready", "downloaded")


async def test_an_illegal_transition_raises_and_changes_nothing(ledger: Ledger) -> None:
    row = ledger.register([planned("a")])["a"]

    with pytest.raises(IllegalTransition, match=r"'a'.*planned to succeeded"):
        await ledger.mark_succeeded(row, ["v"])
    assert ledger.record(row).state == "planned"
    assert ledger.record(row).videos == ()


async def test_a_transition_of_an_unknown_row_raises(ledger: Ledger) -> None:
    with pytest.raises(UnknownRecord):
        await ledger.mark_submitting(999)
    with pytest.raises(UnknownRecord):
        await ledger.mark_video_preparing(999, 1)


def test_transitions_need_their_fields() -> None:
    with pytest.raises(ValueError, match="remote_id"):
        JobTransition(1, JobState.SUBMITTED)
    with pytest.raises(ValueError, match="relative"):
        from photogpt_batch.ledger import VideoTransition

        VideoTransition(1, 1, VideoState.DOWNLOADED, path="/etc/passwd", bytes=1, sha256="x")


@pytest.mark.slow  # a ledger per example, each transition committed (fsync): seconds by design
@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(list(JobState)), max_size=8))
def test_only_the_transitions_in_the_table_are_accepted(targets: list[JobState]) -> None:
    with tempfile.TemporaryDirectory() as tmp, Ledger.open_for_run(Path(tmp)) as ledger:
        row = ledger.register([planned("a")])["a"]
        state = JobState.PLANNED
        for target in targets:
            op = JobTransition(
                row,
                target,
                remote_id="job_1" if target is JobState.SUBMITTED else None,
                video_ids=("v",) if target is JobState.SUCCEEDED else (),
            )
            if target in JOB_TRANSITIONS[state]:
                commit(ledger, op)
                state = target
            else:
                with pytest.raises(IllegalTransition):
                    commit(ledger, op)
            assert ledger.record(row).state == state


async def test_one_illegal_transition_does_not_sink_the_rest_of_its_batch(ledger: Ledger) -> None:
    rows = ledger.register([planned(f"j{i}") for i in range(10)])
    ok_rows = [rows[f"j{i}"] for i in range(1, 10)]

    results = await asyncio.gather(
        ledger.mark_submitted(rows["j0"], "job_0"),  # illegal: never submitting
        *(ledger.mark_submitting(row) for row in ok_rows),
        return_exceptions=True,
    )

    assert isinstance(results[0], IllegalTransition)
    assert results[1:] == [None] * 9
    assert {ledger.record(row).state for row in ok_rows} == {"submitting"}


def test_a_batch_replayed_around_an_illegal_op_applies_every_legal_op_exactly_once(ledger: Ledger) -> None:
    rows = ledger.register([planned(f"j{i}") for i in range(4)])
    ops = [JobTransition(rows[f"j{i}"], JobState.SUBMITTING) for i in (0, 1)]
    ops.append(JobTransition(rows["j2"], JobState.SUCCEEDED))  # illegal: planned → succeeded
    ops.append(JobTransition(rows["j3"], JobState.SUBMITTING))

    with pytest.raises(IllegalTransition):
        commit(ledger, *ops)

    for name in ("j0", "j1", "j3"):
        record = ledger.record(rows[name])
        assert (record.state, record.attempts) == ("submitting", 1)
        transitions = [(e.from_state, e.to_state) for e in ledger.events(rows[name])]
        assert transitions == [(None, "planned"), ("planned", "submitting")]
    assert ledger.record(rows["j2"]).state == "planned"
    assert [(e.from_state, e.to_state) for e in ledger.events(rows["j2"])] == [(None, "planned")]


# ---- durability and group commit ------------------------------------------------------------------------


async def test_an_awaited_transition_is_visible_to_another_connection(ledger: Ledger, output: Path) -> None:
    row = ledger.register([planned("a")])["a"]

    await ledger.mark_submitting(row)

    with Ledger.open_for_reading(output) as reader:
        assert reader.record(row).state == "submitting"


async def test_committed_state_survives_close_and_reopen(output: Path) -> None:
    async with Ledger.open_for_run(output) as ledger:
        row = ledger.register([planned("a")])["a"]
        await ledger.mark_submitting(row)
        await ledger.mark_submitted(row, "job_9")

    with Ledger.open_for_run(output) as reopened:
        record = reopened.record(row)
    assert (record.state, record.remote_id) == ("submitted", "job_9")


CHILD_COMMITS_THEN_HANGS = """
import asyncio, sys
from pathlib import Path
from photogpt_batch.campaign import PlannedJob, content_hash
from photogpt_batch.ledger import Ledger

body = {"modelID": "veo-3.1", "prompt": "x"}
ledger = Ledger.open_for_run(Path(sys.argv[1]))
row = ledger.register([PlannedJob("a", "veo-3.1", body, content_hash(body))])["a"]

async def main():
    await ledger.mark_submitting(row)
    await ledger.mark_submitted(row, "job_42")
    print("committed", flush=True)
    sys.stdin.read()  # hold everything open until killed

asyncio.run(main())
"""


@pytest.mark.slow
def test_a_committed_transition_survives_sigkill(output: Path) -> None:
    child = run_child(CHILD_COMMITS_THEN_HANGS, str(output))
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "committed", child.stderr.read() if child.stderr else ""
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        reap(child)

    with Ledger.open_for_run(output) as ledger:
        record = ledger.job("a")
    assert record is not None and (record.state, record.remote_id) == ("submitted", "job_42")


async def test_many_concurrent_callers_share_a_few_transactions(ledger: Ledger) -> None:
    rows = list(ledger.register([planned(f"j{i}") for i in range(64)]).values())

    before = ledger.commits
    await asyncio.gather(*(ledger.mark_submitting(row) for row in rows))

    assert ledger.commits - before <= 3
    assert {ledger.record(row).state for row in rows} == {"submitting"}


async def test_flush_waits_for_everything_queued(ledger: Ledger, output: Path) -> None:
    row = ledger.register([planned("a")])["a"]
    pending = asyncio.ensure_future(ledger.mark_submitting(row))
    await asyncio.sleep(0)  # one loop turn: the task queues its transition and waits

    await ledger.flush()

    with Ledger.open_for_reading(output) as reader:
        assert reader.record(row).state == "submitting"
    await pending


def _committed_state(output: Path, row: int) -> str:
    """What another process would read now: only committed transactions."""
    with Ledger.open_for_reading(output) as reader:
        record = reader.record(row)
        return record.videos[0].state if record.videos else record.state


async def _succeeded_job(ledger: Ledger) -> int:
    row = ledger.register([planned("a")])["a"]
    await ledger.mark_submitting(row)
    await ledger.mark_submitted(row, "job_1")
    await ledger.mark_succeeded(row, ["vid_1"])
    return row


async def test_a_transition_queued_without_waiting_rides_with_the_next_commit(ledger: Ledger, output: Path) -> None:
    row = await _succeeded_job(ledger)
    other = ledger.register([planned("b")])["b"]

    before = ledger.commits
    await ledger.mark_video_preparing(row, 1, durable=False)  # returns at once: nothing committed yet
    queued_at = time.time()
    assert _committed_state(output, row) == "pending"
    await ledger.mark_submitting(other)  # a durable transition commits everything queued before it

    assert _committed_state(output, row) == "preparing"
    assert ledger.commits == before + 1
    # The audit trail has when it happened, not when it was committed.
    (event,) = [e for e in ledger.events(row) if e.to_state == "preparing"]
    assert event.at <= queued_at


async def test_a_transition_queued_without_waiting_commits_on_its_own_soon(ledger: Ledger, output: Path) -> None:
    row = await _succeeded_job(ledger)

    await ledger.mark_video_preparing(row, 1, durable=False)

    deadline = asyncio.get_running_loop().time() + 10 * LAZY_COMMIT_DELAY
    while _committed_state(output, row) != "preparing":
        assert asyncio.get_running_loop().time() < deadline, "the queued transition was never committed"
        await asyncio.sleep(0.02)


async def test_closing_commits_transitions_queued_without_waiting(output: Path) -> None:
    ledger = Ledger.open_for_run(output)
    row = await _succeeded_job(ledger)
    await ledger.mark_video_preparing(row, 1, durable=False)
    await ledger.mark_video_ready(row, 1, "http://files.example/v.mp4", durable=False)

    await ledger.aclose()

    with Ledger.open_for_reading(output) as reader:
        video = reader.record(row).videos[0]
    assert (video.state, video.url) == ("ready", "http://files.example/v.mp4")


async def test_an_illegal_transition_queued_without_waiting_is_logged_and_spares_the_rest(
    ledger: Ledger, output: Path, caplog: pytest.LogCaptureFixture
) -> None:
    row = await _succeeded_job(ledger)

    await ledger.mark_video_ready(row, 1, "http://files.example/v.mp4", durable=False)  # pending → ready: illegal
    await ledger.mark_video_preparing(row, 1, durable=False)
    await ledger.flush()

    assert _committed_state(output, row) == "preparing"
    assert "cannot go from pending to ready" in caplog.text


async def test_a_synchronous_write_waits_for_a_group_commit_in_flight(ledger: Ledger, output: Path) -> None:
    rows = list(ledger.register([planned(f"j{i}") for i in range(32)]).values())
    group = asyncio.gather(*(ledger.mark_submitting(row) for row in rows))
    await asyncio.sleep(0)  # the group is applied and its COMMIT handed to the writer thread

    ledger.set_meta("picks", "[]")  # a start-up step's own transaction: must neither deadlock nor join that group
    await group

    with Ledger.open_for_reading(output) as reader:
        assert {reader.record(row).state for row in rows} == {"submitting"}
        assert reader.meta("picks") == "[]"


def test_an_interrupted_submission_is_in_doubt_at_the_next_start(output: Path) -> None:
    with Ledger.open_for_run(output) as ledger:
        row = ledger.register([planned("a")])["a"]
        commit(ledger, JobTransition(row, JobState.SUBMITTING))

    with Ledger.open_for_run(output) as ledger:
        assert ledger.recover_interrupted() == [row]
        assert ledger.record(row).state == "in_doubt"


# ---- the lock -------------------------------------------------------------------------------------------


async def test_a_second_runner_in_the_same_process_is_refused(ledger: Ledger, output: Path) -> None:
    with pytest.raises(LedgerLocked) as caught:
        Ledger.open_for_run(output)
    assert str(output) in str(caught.value)
    assert caught.value.pid == os.getpid()


CHILD_HOLDS_LOCK = """
import sys
from pathlib import Path
from photogpt_batch.ledger import Ledger

with Ledger.open_for_run(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


@pytest.mark.slow
def test_a_runner_in_another_process_is_refused_until_it_exits(output: Path) -> None:
    child = run_child(CHILD_HOLDS_LOCK, str(output))
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(LedgerLocked) as caught:
            Ledger.open_for_run(output)
        assert caught.value.pid == child.pid
        assert f"process {child.pid}" in str(caught.value)
        child.stdin.close()
        assert child.wait(timeout=10) == 0
    finally:
        reap(child)

    with Ledger.open_for_run(output):
        pass


async def test_reading_needs_no_lock(ledger: Ledger, output: Path) -> None:
    ledger.register([planned("a")])

    with Ledger.open_for_reading(output) as reader:
        assert [r.job_id for r in reader.jobs()] == ["a"]


def test_reading_a_folder_that_never_ran_is_empty_and_creates_nothing(output: Path) -> None:
    with Ledger.open_for_reading(output) as reader:
        assert reader.jobs() == []
        assert reader.reconcile([planned("a")]).counts == {Disposition.NEW: 1}
    assert not output.exists()


async def test_a_ledger_opened_for_reading_refuses_writes(ledger: Ledger, output: Path) -> None:
    with Ledger.open_for_reading(output) as reader:
        with pytest.raises(ReadOnlyLedger):
            reader.register([planned("a")])
        with pytest.raises(ReadOnlyLedger):
            await reader.mark_submitting(1)


# ---- versions and reconciliation ------------------------------------------------------------------------


async def test_reconcile_tells_every_disposition(ledger: Ledger) -> None:
    jobs = {name: planned(name) for name in ("new", "changed", "flying", "done", "failed", "doubt", "gone")}
    rows = ledger.register(jobs.values())
    ledger.register([jobs["new"]])  # registering again changes nothing
    await ledger.write(
        *(JobTransition(rows[n], JobState.SUBMITTING) for n in ("flying", "done", "failed", "doubt")),
        JobTransition(rows["flying"], JobState.SUBMITTED, remote_id="r1"),
        JobTransition(rows["done"], JobState.SUBMITTED, remote_id="r2"),
        JobTransition(rows["done"], JobState.SUCCEEDED, video_ids=("v",)),
        JobTransition(rows["failed"], JobState.FAILED, error="bad prompt"),
        JobTransition(rows["doubt"], JobState.IN_DOUBT, error="timeout"),
    )
    await ledger.mark_video_preparing(rows["done"], 1)
    await ledger.mark_video_ready(rows["done"], 1, "https://cdn/x")
    await ledger.mark_video_downloaded(rows["done"], 1, "done/1.mp4", 10, "00" * 32)
    spec = [jobs[n] for n in ("new", "flying", "done", "failed", "doubt")] + [planned("changed", "other prompt")]

    result = ledger.reconcile(spec)

    assert {item.job_id: item.disposition for item in result.jobs} == {
        "new": Disposition.NEW,
        "flying": Disposition.IN_FLIGHT,
        "done": Disposition.DONE,
        "failed": Disposition.FAILED,
        "doubt": Disposition.IN_DOUBT,
        "changed": Disposition.CHANGED,
    }
    assert [(item.job_id, item.disposition) for item in result.orphaned] == [("gone", Disposition.ORPHANED)]
    assert result.jobs[3].record is not None and result.jobs[3].record.error == "bad prompt"


async def test_a_succeeded_job_with_videos_left_to_download_is_in_flight(ledger: Ledger) -> None:
    row = ledger.register([planned("a", n=2)])["a"]
    await ledger.write(
        JobTransition(row, JobState.SUBMITTING),
        JobTransition(row, JobState.SUBMITTED, remote_id="r"),
        JobTransition(row, JobState.SUCCEEDED, video_ids=("v1", "v2")),
    )

    assert ledger.reconcile([planned("a", n=2)]).jobs[0].disposition is Disposition.IN_FLIGHT


async def test_changed_content_becomes_a_new_current_version_keeping_the_old(ledger: Ledger) -> None:
    old_row = ledger.register([planned("a", "first")])["a"]
    await ledger.write(
        JobTransition(old_row, JobState.SUBMITTING), JobTransition(old_row, JobState.SUBMITTED, remote_id="r")
    )

    new_row = ledger.register([planned("a", "second")])["a"]

    assert new_row != old_row
    assert [(v.row, v.current, v.state) for v in ledger.versions("a")] == [
        (old_row, False, "submitted"),
        (new_row, True, "planned"),
    ]
    assert ledger.body(new_row)["prompt"] == "second"
    assert ledger.remote_ids() == {"r"}


async def test_returning_to_earlier_content_makes_that_version_current_again(ledger: Ledger) -> None:
    first = ledger.register([planned("a", "first")])["a"]
    ledger.register([planned("a", "second")])

    assert ledger.register([planned("a", "first")])["a"] == first
    current = ledger.job("a")
    assert current is not None and current.row == first


def test_duplicate_ids_in_a_plan_are_refused(output: Path) -> None:
    with Ledger.open_for_run(output) as ledger, pytest.raises(ValueError, match="dup"):
        ledger.register([planned("dup"), planned("dup", "other")])


async def test_counts_and_manifest_entries_come_from_current_versions(ledger: Ledger) -> None:
    row = ledger.register([planned("a"), planned("b")])["a"]
    await ledger.write(
        JobTransition(row, JobState.SUBMITTING),
        JobTransition(row, JobState.SUBMITTED, remote_id="job_1"),
        JobTransition(row, JobState.SUCCEEDED, video_ids=("vid_1",)),
    )
    await ledger.mark_video_preparing(row, 1)
    await ledger.mark_video_ready(row, 1, "https://cdn/x")
    await ledger.mark_video_downloaded(row, 1, Path("a/1.mp4"), 5, "ff" * 32)

    assert ledger.counts() == {"jobs": {"planned": 1, "succeeded": 1}, "videos": {"downloaded": 1}}
    assert ledger.manifest_entries() == [
        {
            "job": "a",
            "model": "veo-3.1",
            "jobId": "job_1",
            "videoId": "vid_1",
            "path": "a/1.mp4",
            "bytes": 5,
            "sha256": "ff" * 32,
            "version": 1,
            "current": True,
        }
    ]


async def test_an_earlier_versions_files_stay_in_the_manifest_marked_not_current_and_can_move(
        ledger: Ledger) -> None:
    first = ledger.register([planned("a")])["a"]
    await ledger.write(JobTransition(first, JobState.SUBMITTING),
                       JobTransition(first, JobState.SUBMITTED, remote_id="j1"),
                       JobTransition(first, JobState.SUCCEEDED, video_ids=("v1",)),
                       VideoTransition(first, 1, VideoState.PREPARING),
                       VideoTransition(first, 1, VideoState.READY, url="u"),
                       VideoTransition(first, 1, VideoState.DOWNLOADED, path="a/1.mp4", bytes=5, sha256="ff" * 32))
    second = ledger.register([planned("a", "another prompt")])["a"]
    assert [r.row for r in ledger.replaced()] == [first]

    await ledger.write(MoveVideo(first, 1, "a/v1/1.mp4"))

    assert [(e["path"], e["version"], e["current"]) for e in ledger.manifest_entries()] == [("a/v1/1.mp4", 1, False)]
    assert ledger.events(first)[-1][2:6] == (1, "downloaded", "moved", "a/v1/1.mp4")
    with pytest.raises(UnknownRecord):
        await ledger.write(MoveVideo(second, 1, "a/1.mp4"))  # planned: no video, no file


async def test_a_writer_cancelled_before_its_commit_ran_still_commits_and_frees_the_ledger(output: Path) -> None:
    ledger = Ledger.open_for_run(output)
    row = ledger.register([planned("a")])["a"]
    assert isinstance(ledger, SqliteLedger) and ledger._executor is not None
    # Keep the writer thread busy, so the batch below waits in its queue when its task is cancelled.
    gate = threading.Event()
    ledger._executor.submit(gate.wait, 10)
    pending = asyncio.ensure_future(ledger.mark_submitting(row))
    deadline = time.monotonic() + 10
    while not ledger._write_mutex.locked():  # the batch is applied; its COMMIT is queued behind the gate
        assert time.monotonic() < deadline, "the batch was never applied"
        await asyncio.sleep(0.001)
    writer = ledger._writer
    assert writer is not None
    writer.cancel()
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer
    gate.set()
    # Without the COMMIT the write lock would stay held and closing would wait forever.
    closer = threading.Thread(target=ledger.close, daemon=True)
    closer.start()
    await asyncio.to_thread(closer.join, 10)
    assert not closer.is_alive(), "close() is stuck on the write lock"
    with Ledger.open_for_reading(output) as reader:
        assert reader.record(row).state == "submitting"
