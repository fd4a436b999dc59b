"""The record of files already checked (io/checked.py): a rerun does not read again a downloaded file whose stat
fingerprint is unchanged since it was hashed, and still catches every change to one, even with its size and mtime
put back; a record that is missing, damaged or of another format is set aside and rebuilt; ``--rehash`` reads
everything again."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cli_in_process import run_main
from engine_helpers import (
    check_outputs,
    fast_sandbox,
    load,
    posts,
    run_config,
    wait_for_the_clock_to_pass,
    write_campaign,
)

import photogpt_batch.engine.download as download
from photogpt_batch.engine.fetch import hash_file
from photogpt_batch.io.checked import FORMAT, CheckedFiles
from photogpt_batch.layout import ASIDE_MARK, checked_path, ledger_dir
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread

JOBS, VIDEOS = 3, 2


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files a run's file checks read (`Downloads.intact` hashes through `download.hash_file`)."""
    seen: list[str] = []

    def counted(path: str | os.PathLike[str]) -> Any:
        seen.append(os.fspath(path))
        return hash_file(path)

    monkeypatch.setattr(download, "hash_file", counted)
    return seen


def run_once(tmp_path: Path, sandbox: SandboxThread) -> tuple[Path, Path]:
    """A campaign of `JOBS` jobs of `VIDEOS` videos run to completion: its spec and its output folder."""
    spec = write_campaign(tmp_path, jobs=JOBS, num_videos=VIDEOS)
    assert run_campaign(load(spec), run_config(sandbox)).complete
    return spec, tmp_path / "out"


def rerun(spec: Path, sandbox: SandboxThread, reads: list[str], **engine: Any) -> list[str]:
    """Run ``spec`` again (it must complete, sending no job); returns the files it read to check them (not the
    copies set aside that a new download is compared with)."""
    reads.clear()
    sent = posts(sandbox)
    assert run_campaign(load(spec), run_config(sandbox, **engine)).complete
    assert posts(sandbox) == sent
    return sorted(os.path.relpath(path, spec.parent / "out") for path in reads if ASIDE_MARK not in path)


def every_video() -> list[str]:
    return sorted(f"clip-{i}/{n}.mp4" for i in range(1, JOBS + 1) for n in range(1, VIDEOS + 1))


def damage_in_place(path: Path) -> None:
    """Change one byte of ``path`` in place, then put its mtime back: the same inode, size and mtime, other
    content. Only its ctime shows the change."""
    before = path.stat()
    wait_for_the_clock_to_pass(path)
    with open(path, "r+b") as file:
        file.seek(100)
        byte = file.read(1)[0]
        file.seek(100)
        file.write(bytes([byte ^ 0xFF]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_dev, after.st_ino, after.st_size, after.st_mtime_ns) == \
        (before.st_dev, before.st_ino, before.st_size, before.st_mtime_ns)
    assert after.st_ctime_ns != before.st_ctime_ns


def test_a_rerun_with_nothing_changed_reads_no_file(tmp_path: Path, sandbox: SandboxThread, reads: list[str]) -> None:
    spec = write_campaign(tmp_path, jobs=JOBS, num_videos=VIDEOS)
    assert run_campaign(load(spec), run_config(sandbox)).complete
    assert checked_path(tmp_path / "out").is_file()
    # Recorded as they downloaded: the first rerun already reads nothing, and nor does the next.
    assert rerun(spec, sandbox, reads) == []
    assert rerun(spec, sandbox, reads) == []
    check_outputs(tmp_path / "out", JOBS * VIDEOS)


@pytest.mark.parametrize("recorded_by", ["download", "hash"])
def test_a_file_changed_in_place_with_its_size_and_mtime_put_back_is_fetched_again(
        tmp_path: Path, sandbox: SandboxThread, reads: list[str], recorded_by: str) -> None:
    """The case ctime is in the fingerprint for: without it, the record would vouch for the damaged file."""
    spec, out = run_once(tmp_path, sandbox)
    if recorded_by == "hash":  # recorded by a rerun that hashed every file (the record was lost)
        checked_path(out).unlink()
        assert rerun(spec, sandbox, reads) == every_video()
    target = out / "clip-2" / "1.mp4"
    original = target.read_bytes()
    damage_in_place(target)
    assert rerun(spec, sandbox, reads) == ["clip-2/1.mp4"]  # only the changed one is read
    assert target.read_bytes() == original  # found damaged, and downloaded again
    check_outputs(out, JOBS * VIDEOS)
    assert rerun(spec, sandbox, reads) == []  # and the new download is recorded


def test_a_file_replaced_by_another_of_the_same_size_and_mtime_is_fetched_again(
        tmp_path: Path, sandbox: SandboxThread, reads: list[str]) -> None:
    spec, out = run_once(tmp_path, sandbox)
    target = out / "clip-1" / "2.mp4"
    original, before = target.read_bytes(), target.stat()
    stranger = target.with_name("stranger")
    stranger.write_bytes(bytes(b ^ 0x55 for b in original))
    os.utime(stranger, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(stranger, target)
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert rerun(spec, sandbox, reads) == ["clip-1/2.mp4"]
    assert target.read_bytes() == original
    check_outputs(out, JOBS * VIDEOS)


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a database at all " * 200)


def _other_format(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {FORMAT + 1}")


def _deleted(path: Path) -> None:
    path.unlink()


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


@pytest.mark.parametrize("trouble", [_deleted, _garbage, _other_format, _folder],
                         ids=["deleted", "damaged", "other-format", "a-folder-in-its-place"])
def test_a_record_in_trouble_is_set_aside_and_every_file_checked(
        tmp_path: Path, sandbox: SandboxThread, reads: list[str], trouble: Any) -> None:
    spec, out = run_once(tmp_path, sandbox)
    trouble(checked_path(out))
    target = out / "clip-3" / "2.mp4"
    original = target.read_bytes()
    damage_in_place(target)
    # Every file is read, as without a record, and the damaged one is caught.
    assert rerun(spec, sandbox, reads) == every_video()
    assert target.read_bytes() == original
    check_outputs(out, JOBS * VIDEOS)
    if trouble is _folder:  # not ours: left alone, and every rerun reads every file
        assert checked_path(out).is_dir()
        assert rerun(spec, sandbox, reads) == every_video()
    else:  # rebuilt by that run
        assert rerun(spec, sandbox, reads) == []


def _vouch_for_what_is_there(out: Path, rel: str) -> None:
    """Make the record vouch for the file at ``rel`` as it is now (its fingerprint) with the sha256 the ledger
    holds for it: damage its fingerprint cannot show (a disk's bit rot) looks so."""
    found = (out / rel).stat()
    with contextlib.closing(sqlite3.connect(checked_path(out))) as conn, conn:
        changed = conn.execute("UPDATE checked SET dev = ?, ino = ?, size = ?, mtime_ns = ?, ctime_ns = ? "
                               "WHERE path = ?", (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns,
                                                  found.st_ctime_ns, rel)).rowcount
    assert changed == 1


def test_rehash_reads_every_file_again_and_records_them_afresh(
        tmp_path: Path, sandbox: SandboxThread, reads: list[str]) -> None:
    spec, out = run_once(tmp_path, sandbox)
    target = out / "clip-1" / "1.mp4"
    original = target.read_bytes()
    damage_in_place(target)
    _vouch_for_what_is_there(out, "clip-1/1.mp4")
    assert rerun(spec, sandbox, reads) == []  # the record is trusted...
    assert target.read_bytes() != original
    assert rerun(spec, sandbox, reads, rehash=True) == every_video()  # ...unless told not to
    assert target.read_bytes() == original
    check_outputs(out, JOBS * VIDEOS)
    assert rerun(spec, sandbox, reads) == []


def test_run_rehash_on_the_command_line(tmp_path: Path, sandbox: SandboxThread, reads: list[str]) -> None:
    spec = write_campaign(tmp_path, jobs=JOBS, num_videos=VIDEOS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOGPT_")}
    env.update(PHOTOGPT_BASE_URL=sandbox.base_url, PHOTOGPT_API_KEY="test-key")
    assert run_main(["run", str(spec), "--quiet", "--rate", "1000"], env).returncode == 0
    reads.clear()
    assert run_main(["run", str(spec), "--quiet", "--rate", "1000"], env).returncode == 0
    assert reads == []
    result = run_main(["run", str(spec), "--quiet", "--rate", "1000", "--rehash"], env)
    assert result.returncode == 0, result.stderr
    assert len(reads) == JOBS * VIDEOS
    both = run_main(["run", str(spec), "--rehash", "--no-verify"], env)
    assert both.returncode == 2 and "--rehash" in both.stderr and "--no-verify" in both.stderr


def test_a_file_that_changed_after_the_clock_was_read_is_not_recorded_by_a_hash(tmp_path: Path) -> None:
    """A file hashed on a rerun is recorded only if its ctime is older than the file system's clock read
    before its lstat: a change made since might share its ctime (a coarse clock) and go unseen."""
    ledger_dir(tmp_path).mkdir()
    old = tmp_path / "old.mp4"
    old.write_bytes(b"old")
    wait_for_the_clock_to_pass(old)
    record = CheckedFiles(tmp_path)
    assert not record.vouches("old.mp4", old.stat(), "a" * 64)  # opens it: the clock is read now
    new = tmp_path / "new.mp4"
    new.write_bytes(b"new")
    record.hashed("old.mp4", old.stat(), "a" * 64)
    record.hashed("new.mp4", new.stat(), "b" * 64)
    record.close()
    again = CheckedFiles(tmp_path)
    assert again.vouches("old.mp4", old.stat(), "a" * 64)
    assert not again.vouches("new.mp4", new.stat(), "b" * 64)
    again.close()


def test_the_record_vouches_only_for_the_ledgers_sha256_and_for_any_inode_number(tmp_path: Path) -> None:
    ledger_dir(tmp_path).mkdir()
    record = CheckedFiles(tmp_path)
    # Inode and device numbers are unsigned 64-bit; SQLite's integers are signed.
    found: Any = SimpleNamespace(st_dev=2**64 - 1, st_ino=2**63, st_size=10, st_mtime_ns=1, st_ctime_ns=2)
    record.downloaded("a/1.mp4", found, "a" * 64)
    record.close()
    again = CheckedFiles(tmp_path)
    assert again.vouches("a/1.mp4", found, "a" * 64)
    assert not again.vouches("a/1.mp4", found, "b" * 64)  # the ledger holds another video now
    assert not again.vouches("a/1.mp4", found, None)
    assert not again.vouches("a/2.mp4", found, "a" * 64)
    other: Any = SimpleNamespace(**{**vars(found), "st_ctime_ns": 3})
    assert not again.vouches("a/1.mp4", other, "a" * 64)
    again.close()


def test_without_the_tool_folder_nothing_is_recorded(tmp_path: Path) -> None:
    record = CheckedFiles(tmp_path)
    record.downloaded("x", tmp_path.stat(), "a" * 64)
    record.close()
    assert not ledger_dir(tmp_path).exists()
