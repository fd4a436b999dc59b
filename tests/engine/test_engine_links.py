"""A job folder, or one of its ``v<k>/`` folders, replaced by a symbolic link to a folder outside the output
folder: a rerun writes nothing through it (videos, ``.part`` files, last frames, the moves of earlier versions)
and trusts nothing found through it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from engine_helpers import fast_sandbox, load, posts, run_config
from test_engine_last_frame import PNG, seedance_campaign

from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread


@pytest.fixture
def sandbox():
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` with its bytes (``None`` for a folder)."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def link_away(folder: Path, outside: Path) -> None:
    """Move ``folder`` to ``outside`` and leave a symbolic link to it in its place."""
    shutil.move(folder, outside)
    folder.symlink_to(outside, target_is_directory=True)


def test_a_job_folder_linked_outside_gets_no_video_part_or_last_frame_through_it(
        tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = seedance_campaign(tmp_path, num_videos=2)
    assert run_campaign(load(spec), run_config(sandbox)).complete
    out, outside = tmp_path / "out", tmp_path / "elsewhere" / "shot"
    outside.parent.mkdir()
    link_away(out / "shot", outside)
    (outside / "2.last.png").unlink()  # a last frame the rerun would fetch again
    (outside / "1.mp4").write_bytes(b"damaged")  # a video it would download again (.part, then the file)
    before = snapshot(outside.parent)
    summary = run_campaign(load(spec), run_config(sandbox))
    assert snapshot(outside.parent) == before  # nothing written, moved or removed through the link
    assert posts(sandbox) == 2  # and nothing paid again
    failed = dict(summary.video_failures)
    assert set(failed) == {"shot/1", "shot/2"} and all("symbolic link" in why for why in failed.values()), failed
    # Once the link is gone, a rerun fetches the videos and their last frames, still without paying.
    (out / "shot").unlink()
    assert run_campaign(load(spec), run_config(sandbox)).complete and posts(sandbox) == 2
    assert (out / "shot/1.last.png").read_bytes().startswith(PNG)


def test_an_earlier_versions_folder_linked_outside_is_neither_moved_from_nor_into(
        tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = seedance_campaign(tmp_path, num_videos=1)
    first = spec.read_text()
    assert run_campaign(load(spec), run_config(sandbox)).complete
    spec.write_text(first.replace("a slow push-in", "a fast pull-out"))
    assert run_campaign(load(spec), run_config(sandbox)).complete  # version 1's files moved to shot/v1/
    out, outside = tmp_path / "out", tmp_path / "elsewhere" / "v1"
    outside.parent.mkdir()
    link_away(out / "shot/v1", outside)
    before, paid = snapshot(outside.parent), posts(sandbox)
    spec.write_text(first)  # back to version 1: its files would move back from shot/v1/ to shot/
    summary = run_campaign(load(spec), run_config(sandbox))
    assert snapshot(outside.parent) == before
    assert posts(sandbox) == paid  # going back never pays
    # Version 1's video is fetched again into shot/ (free); version 2's went to its own shot/v2/.
    assert summary.complete, summary.video_failures
    assert (out / "shot/1.mp4").is_file() and not (out / "shot/1.mp4").is_symlink()
    assert (out / "shot/v2/1.mp4").is_file() and (out / "shot/1.last.png").read_bytes().startswith(PNG)
    # A change that would put the current version's files into the linked v1/ is refused too.
    spec.write_text(first.replace("a slow push-in", "a third take"))
    run_campaign(load(spec), run_config(sandbox))
    assert snapshot(outside.parent) == before
