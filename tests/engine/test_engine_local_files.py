"""The engine against trouble in the output folder itself: planted links, files where folders belong, an
unwritable manifest, and a damaged, locked or read-only ledger. Each is a clear error or one failed video,
never a write outside the folder, never a crash of the whole run, never a resend."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from engine_helpers import check_outputs, fast_sandbox, load, manifest, posts, run_config, write_campaign
from ledger_writes import commit

from photogpt_batch.ledger import (
    LEDGER_DIR,
    LEDGER_FILE,
    Ledger,
    LedgerCorrupt,
    LedgerUnusable,
    VideoState,
    VideoTransition,
)
from photogpt_batch.ledger import sqlite_file as ledger_module
from photogpt_batch.runner import ConfigError, run_campaign
from photogpt_batch.sandbox import SandboxThread


@pytest.fixture
def sandbox():
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the output with a file in it that nothing may change."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me\n")
    return folder


def _untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    assert (outside / "precious.txt").read_text() == "keep me\n"


def _finished_run(tmp_path: Path, sandbox: SandboxThread, jobs: int = 2) -> Path:
    spec = write_campaign(tmp_path, jobs=jobs)
    assert run_campaign(load(spec), run_config(sandbox)).complete
    return spec


# ---- links planted in the output folder ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["manifest.jsonl", "manifest.jsonl.tmp"])
def test_a_manifest_link_is_replaced_not_written_through(tmp_path: Path, sandbox: SandboxThread, outside: Path,
                                                         name: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / name).symlink_to(outside / "precious.txt")
    summary = run_campaign(load(write_campaign(tmp_path, jobs=2)), run_config(sandbox))
    assert summary.complete
    _untouched(outside)
    assert not (out / "manifest.jsonl").is_symlink()
    check_outputs(out, 2)


def test_a_job_folder_that_links_outside_fails_that_job_only(tmp_path: Path, sandbox: SandboxThread,
                                                             outside: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "clip-1").symlink_to(outside, target_is_directory=True)
    spec = write_campaign(tmp_path, jobs=3)
    summary = run_campaign(load(spec), run_config(sandbox))
    _untouched(outside)
    assert summary.videos_downloaded == 2
    [(video, error)] = summary.video_failures
    assert video == "clip-1/1" and "symbolic link" in error
    # Once the link is gone, a rerun fetches the video: no new submission, nothing lost.
    (out / "clip-1").unlink()
    again = run_campaign(load(spec), run_config(sandbox))
    assert again.complete and posts(sandbox) == 3
    check_outputs(out, 3)


def test_a_linked_state_folder_or_lock_is_refused_before_anything_is_sent(tmp_path: Path, sandbox: SandboxThread,
                                                                          outside: Path) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / LEDGER_DIR).symlink_to(outside, target_is_directory=True)
    with pytest.raises(ConfigError, match="symbolic link"):
        run_campaign(load(spec), run_config(sandbox))
    (out / LEDGER_DIR).unlink()
    (out / LEDGER_DIR).mkdir()
    (out / LEDGER_DIR / "lock").symlink_to(outside / "precious.txt")
    with pytest.raises(ConfigError, match="symbolic link"):
        run_campaign(load(spec), run_config(sandbox))
    _untouched(outside)
    assert posts(sandbox) == 0


def test_a_recorded_file_replaced_by_a_link_is_fetched_again(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = _finished_run(tmp_path, sandbox, jobs=1)
    video = tmp_path / "out" / "clip-1" / "1.mp4"
    copy = tmp_path / "copy.mp4"
    video.rename(copy)
    video.symlink_to(copy)  # same bytes, but not a file the run wrote in the folder
    assert run_campaign(load(spec), run_config(sandbox)).complete
    assert not video.is_symlink() and video.read_bytes() == copy.read_bytes()
    assert posts(sandbox) == 1


# ---- local trouble fails one video, not the run ----------------------------------------------------------

def test_a_file_where_a_job_folder_belongs_fails_that_video_and_the_rest_complete(
        tmp_path: Path, sandbox: SandboxThread) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "clip-2").write_text("not a folder")
    spec = write_campaign(tmp_path, jobs=3)
    summary = run_campaign(load(spec), run_config(sandbox))
    assert summary.videos_downloaded == 2
    [(video, error)] = summary.video_failures
    assert video == "clip-2/1" and "clip-2" in error and "not a folder" in error
    assert (out / "clip-2").read_text() == "not a folder"  # the user's file is left alone
    (out / "clip-2").unlink()
    assert run_campaign(load(spec), run_config(sandbox)).complete
    assert posts(sandbox) == 3


def test_a_folder_where_the_partial_file_belongs_fails_that_video(tmp_path: Path, sandbox: SandboxThread) -> None:
    out = tmp_path / "out"
    (out / "clip-1" / "1.mp4.part").mkdir(parents=True)
    summary = run_campaign(load(write_campaign(tmp_path, jobs=2)), run_config(sandbox))
    assert summary.videos_downloaded == 1
    [(video, error)] = summary.video_failures
    assert video == "clip-1/1" and "1.mp4.part" in error


def test_a_partial_file_that_is_not_a_file_fails_the_resumed_download(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = _finished_run(tmp_path, sandbox, jobs=2)
    out = tmp_path / "out"
    # As a run cut off mid-download leaves it: the video ready with its URL, its partial file to resume...
    with Ledger.open_for_run(out) as ledger:
        record = ledger.job("clip-1")
        assert record is not None
        commit(ledger, VideoTransition(record.row, 1, VideoState.PENDING))
        commit(ledger, VideoTransition(record.row, 1, VideoState.PREPARING))
        commit(ledger, VideoTransition(record.row, 1, VideoState.READY, url="http://127.0.0.1:9/gone.mp4"))
    (out / "clip-1" / "1.mp4").unlink()
    os.mkfifo(out / "clip-1" / "1.mp4.part")  # ...which is no longer a regular file
    summary = run_campaign(load(spec), run_config(sandbox))
    [(video, error)] = summary.video_failures
    assert video == "clip-1/1" and "1.mp4.part" in error and "not a regular file" in error
    assert summary.videos_downloaded == 1


def test_a_manifest_that_cannot_be_written_is_reported_and_the_videos_kept(tmp_path: Path,
                                                                          sandbox: SandboxThread) -> None:
    out = tmp_path / "out"
    (out / "manifest.jsonl").mkdir(parents=True)  # a folder in the way: neither appended to nor replaced
    summary = run_campaign(load(write_campaign(tmp_path, jobs=2)), run_config(sandbox))
    assert summary.videos_downloaded == 2
    assert summary.manifest_error is not None and "manifest.jsonl" in summary.manifest_error
    assert not summary.complete
    (out / "manifest.jsonl").rmdir()
    again = run_campaign(load(write_campaign(tmp_path, jobs=2)), run_config(sandbox))
    assert again.complete and len(manifest(out)) == 2


# ---- the ledger ------------------------------------------------------------------------------------------

def _damage(tmp_path: Path, *statements: str) -> None:
    conn = sqlite3.connect(tmp_path / "out" / LEDGER_DIR / LEDGER_FILE, isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


@pytest.mark.parametrize("statements, reason", [
    (["UPDATE jobs SET state = 'bogus'"], "unknown state 'bogus'"),
    (["UPDATE videos SET state = 'lost'"], "unknown state 'lost'"),
    (["DROP TABLE events"], "table 'events' is missing"),
    (["UPDATE schema_version SET version = 1"], "cannot be used"),  # migration 2 meets its own columns
])
def test_a_damaged_ledger_is_refused_with_a_clear_message(tmp_path: Path, sandbox: SandboxThread,
                                                          statements: list[str], reason: str) -> None:
    spec = _finished_run(tmp_path, sandbox)
    _damage(tmp_path, *statements)
    with pytest.raises(ConfigError, match=r"damaged|cannot be used") as raised:
        run_campaign(load(spec), run_config(sandbox))
    assert reason in str(raised.value)
    with pytest.raises(LedgerCorrupt):
        Ledger.open_for_reading(tmp_path / "out")
    assert posts(sandbox) == 2


def test_a_ledger_locked_by_another_program_is_refused(tmp_path: Path, sandbox: SandboxThread,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _finished_run(tmp_path, sandbox)
    monkeypatch.setattr(ledger_module, "BUSY_TIMEOUT", 0.1)
    other = sqlite3.connect(tmp_path / "out" / LEDGER_DIR / LEDGER_FILE, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # e.g. a database browser with an open write transaction
        with pytest.raises(ConfigError, match="locked by another program"):
            run_campaign(load(spec), run_config(sandbox))
    finally:
        other.close()
    assert run_campaign(load(spec), run_config(sandbox)).complete
    assert posts(sandbox) == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_a_read_only_ledger_is_refused_before_anything_is_sent(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = _finished_run(tmp_path, sandbox)
    (tmp_path / "out" / "clip-1" / "1.mp4").unlink()  # work to do, which needs the ledger
    ledger_file = tmp_path / "out" / LEDGER_DIR / LEDGER_FILE
    ledger_file.chmod(0o444)
    try:
        with pytest.raises(ConfigError, match="cannot be written"):
            run_campaign(load(spec), run_config(sandbox))
    finally:
        ledger_file.chmod(0o644)


@pytest.mark.parametrize("message, kind, says", [
    ("attempt to write a readonly database", LedgerUnusable, "cannot be written"),
    ("unable to open database file", LedgerUnusable, "cannot be written"),
    ("database is locked", LedgerUnusable, "locked by another program"),
    ("malformed database schema", LedgerCorrupt, "cannot be used"),
])
def test_sqlite_failures_on_open_say_what_to_do(tmp_path: Path, message: str, kind: type, says: str) -> None:
    # The read-only case itself is tested above only when not root (root writes read-only files).
    error = ledger_module.unusable(tmp_path, sqlite3.OperationalError(message))
    assert isinstance(error, kind) and says in str(error)


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_lost_ledger_beside_earlier_videos_does_not_pay_again(tmp_path: Path, sandbox: SandboxThread,
                                                                how: str) -> None:
    spec = _finished_run(tmp_path, sandbox)
    ledger_file = tmp_path / "out" / LEDGER_DIR / LEDGER_FILE
    for leftover in ledger_file.parent.glob(LEDGER_FILE + "*"):
        leftover.unlink()
    if how == "emptied":
        ledger_file.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"is missing or empty.*would submit and pay for them again"):
        run_campaign(load(spec), run_config(sandbox))
    assert posts(sandbox) == 2
    check_outputs(tmp_path / "out", 2)  # nothing was set aside or touched
    (tmp_path / "out" / "manifest.jsonl").rename(tmp_path / "old-manifest.jsonl")  # the user starts over
    assert run_campaign(load(spec), run_config(sandbox)).complete
    assert posts(sandbox) == 4


def test_a_finished_campaign_reruns_cleanly_in_a_folder_made_read_only(tmp_path: Path,
                                                                      sandbox: SandboxThread) -> None:
    spec = _finished_run(tmp_path, sandbox)
    out = tmp_path / "out"
    before = (out / "manifest.jsonl").stat().st_mtime_ns
    # A manifest already right is left as it is: here a rename into the folder would be refused.
    (out / "manifest.jsonl.tmp").mkdir()
    assert run_campaign(load(spec), run_config(sandbox)).complete
    assert (out / "manifest.jsonl").stat().st_mtime_ns == before
    check_outputs(out, 2)


def test_a_ledger_restored_from_an_older_backup_does_not_pay_again(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    assert run_campaign(load(spec), run_config(sandbox)).complete
    state = tmp_path / "out" / LEDGER_DIR
    backup = tmp_path / "ledger-backup"
    shutil.copytree(state, backup)  # a backup taken after the first job
    spec = write_campaign(tmp_path, jobs=3)
    assert run_campaign(load(spec), run_config(sandbox)).complete
    shutil.rmtree(state)
    shutil.copytree(backup, state)  # ...restored after two more were paid for
    with pytest.raises(ConfigError, match=r"older than the folder's files.*2 job"):
        run_campaign(load(spec), run_config(sandbox))
    assert posts(sandbox) == 3
    check_outputs(tmp_path / "out", 3)


def test_a_hand_edited_manifest_line_does_not_stop_a_run(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = _finished_run(tmp_path, sandbox)
    with open(tmp_path / "out" / "manifest.jsonl", "a") as f:
        f.write("not json\n[1, 2]\n")
    assert run_campaign(load(spec), run_config(sandbox)).complete
    check_outputs(tmp_path / "out", 2)  # rewritten from the ledger


def test_a_ledger_that_fills_up_mid_run_stops_the_run_cleanly_and_nothing_is_paid_twice(
        tmp_path: Path, sandbox: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    configure = ledger_module.configure_for_writing

    def room_for_little(conn: sqlite3.Connection, path: Path) -> None:
        configure(conn, path)
        # SQLite's own "database or disk is full", as on a full disk, once the ledger grows a few pages.
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 3}")

    spec = write_campaign(tmp_path, jobs=40)
    with Ledger.open_for_run(tmp_path / "out") as ledger:
        ledger.register(load(spec).jobs)  # so the room runs out in mid-run, not while the jobs are recorded
    monkeypatch.setattr(ledger_module, "configure_for_writing", room_for_little)
    summary = run_campaign(load(spec), run_config(sandbox))
    assert summary.aborted is not None and "the ledger cannot be written" in summary.aborted
    assert "full" in summary.aborted and not summary.complete
    sent = posts(sandbox)
    assert 0 < sent < 40
    monkeypatch.undo()  # space freed
    final = run_campaign(load(spec), run_config(sandbox, resubmit_in_doubt=True))
    assert final.complete
    check_outputs(tmp_path / "out", 40)
    # Only a submission whose jobId could not be recorded may exist twice, and only because it was asked for.
    with Ledger.open_for_reading(tmp_path / "out") as ledger:
        doubted = sum(1 for r in ledger.jobs() for e in ledger.events(r.row) if e.to_state == "in_doubt")
    assert sum(n - 1 for n in sandbox.counters.duplicate_payloads().values()) <= doubted


def test_a_ledger_sqlite_cannot_share_is_still_read_by_status(tmp_path: Path, sandbox: SandboxThread) -> None:
    # As in a folder the reader may not write (another user's, a read-only mount): SQLite cannot open its
    # WAL index beside the ledger. Here a folder stands where that file goes, which stops root as well.
    _finished_run(tmp_path, sandbox)
    state = tmp_path / "out" / LEDGER_DIR
    assert not (state / (LEDGER_FILE + "-wal")).exists()  # a run that ended leaves no log to apply
    (state / (LEDGER_FILE + "-shm")).mkdir()
    with Ledger.open_for_reading(tmp_path / "out") as ledger:
        assert [r.job_id for r in ledger.jobs()] == ["clip-1", "clip-2"]
    with pytest.raises(LedgerUnusable, match="cannot be written"):
        Ledger.open_for_run(tmp_path / "out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only folders")
def test_status_reads_a_ledger_in_a_folder_it_cannot_write(tmp_path: Path, sandbox: SandboxThread) -> None:
    _finished_run(tmp_path, sandbox)
    state = tmp_path / "out" / LEDGER_DIR
    state.chmod(0o555)
    try:
        with Ledger.open_for_reading(tmp_path / "out") as ledger:
            assert len(ledger.jobs()) == 2
    finally:
        state.chmod(0o755)
