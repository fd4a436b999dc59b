"""A rerun with nothing to do reads the ledger a page at a time, never job by job and never every record at once:
a job done before the run started is not read again to find that it has nothing to download (20,000 reads at
20,000 jobs), and no list of every record is held (at 100,000 jobs, the rerun's peak of memory)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import check_outputs, fast_sandbox, load, posts, run_config, write_campaign

from photogpt_batch.campaign import PlannedJob
from photogpt_batch.engine.pipeline import Engine
from photogpt_batch.layout import ledger_path
from photogpt_batch.ledger import JobRecord, Ledger
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread


def test_a_rerun_of_a_done_campaign_reads_no_job_on_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_campaign(tmp_path, jobs=4, num_videos=2)
    with SandboxThread(fast_sandbox()) as sandbox:
        assert run_campaign(load(spec), run_config(sandbox)).complete
        sent = posts(sandbox)
        reads: list[int] = []
        record = Ledger.record

        def counted(self: Ledger, row: int) -> JobRecord:
            reads.append(row)
            return record(self, row)

        monkeypatch.setattr(Ledger, "record", counted)
        summary: Any = run_campaign(load(spec), run_config(sandbox))
        assert posts(sandbox) == sent
    assert summary.complete and summary.videos_downloaded == 8
    assert reads == []
    check_outputs(tmp_path / "out", 8)


def test_a_rerun_of_a_done_campaign_starts_no_job_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job whose videos are all on disk and intact gets no asyncio task on a rerun: 20,000 done jobs made
    20,000 flows just to find nothing to do. Its manifest lines still come from the ledger."""
    spec = write_campaign(tmp_path, jobs=4, num_videos=2)
    with SandboxThread(fast_sandbox()) as sandbox:
        assert run_campaign(load(spec), run_config(sandbox)).complete
        manifest = (tmp_path / "out" / "manifest.jsonl").read_bytes()
        (tmp_path / "out" / "manifest.jsonl").unlink()
        flows: list[str] = []
        flow = Engine._job_flow

        async def counted(self: Engine, job: PlannedJob, *args: Any, **kwargs: Any) -> None:
            flows.append(job.id)
            await flow(self, job, *args, **kwargs)

        monkeypatch.setattr(Engine, "_job_flow", counted)
        summary: Any = run_campaign(load(spec), run_config(sandbox))
        assert flows == []
        assert summary.complete and summary.videos_downloaded == 8
        assert (tmp_path / "out" / "manifest.jsonl").read_bytes() == manifest
        # A damaged file still gets its flow, and is fetched again.
        video = next((tmp_path / "out").glob("*/1.mp4"))
        video.write_bytes(b"x" * video.stat().st_size)
        assert run_campaign(load(spec), run_config(sandbox)).complete
        assert flows == [video.parent.name]
    check_outputs(tmp_path / "out", 8)


def test_a_run_never_holds_every_record_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from photogpt_batch.ledger import paged

    spec = write_campaign(tmp_path, jobs=5, num_videos=2)
    with SandboxThread(fast_sandbox()) as sandbox:
        assert run_campaign(load(spec), run_config(sandbox)).complete
        damaged = tmp_path / "out" / "clip-3" / "2.mp4"
        damaged.write_bytes(b"x" * damaged.stat().st_size)

        def refused(self: Ledger) -> list[JobRecord]:
            raise AssertionError("the run read every record at once")

        monkeypatch.setattr(paged, "PAGE", 2)  # pages end inside the campaign
        monkeypatch.setattr(Ledger, "jobs", refused)
        # With a budget too: it is opened at what the ledger holds, read a page at a time as well.
        summary: Any = run_campaign(load(spec), run_config(sandbox, max_credits=1_000_000))
    assert summary.complete and summary.videos_downloaded == 10  # the damaged file was found and fetched again
    assert summary.budget == 1_000_000 and summary.budget_committed == summary.credits
    check_outputs(tmp_path / "out", 10)


def test_a_rerun_of_a_done_campaign_reads_briefs_only_and_its_link_is_not_trusted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rerun's start and summary go through the jobs in brief (`Ledger.iter_briefs`), reading no full record
    when nothing is left to do; the output folder is listed once for its job folders, and a job folder replaced
    by a link since is still not trusted: its videos are not taken as on disk, and nothing goes through it."""
    spec = write_campaign(tmp_path, jobs=4, num_videos=2)
    with SandboxThread(fast_sandbox()) as sandbox:
        assert run_campaign(load(spec), run_config(sandbox)).complete
        read: list[int] = []
        records_at = Ledger.records_at

        def counted(self: Ledger, rows: Any) -> list[JobRecord]:
            read.extend(rows)
            return records_at(self, rows)

        monkeypatch.setattr(Ledger, "records_at", counted)
        monkeypatch.setattr(Ledger, "iter_jobs", lambda self: pytest.fail("a full read of every job"))
        # Every current version is one of the spec's jobs: the jobs outside the run are not looked for.
        outside = Ledger.current_outside
        monkeypatch.setattr(Ledger, "current_outside", lambda self, held: pytest.fail("looked for outside jobs"))
        summary: Any = run_campaign(load(spec), run_config(sandbox))
        assert summary.complete and read == []
        monkeypatch.setattr(Ledger, "current_outside", outside)
        out, moved = tmp_path / "out", tmp_path / "elsewhere"
        (out / "clip-2").rename(moved)
        (out / "clip-2").symlink_to(moved, target_is_directory=True)
        before = sorted((p.name, p.read_bytes()) for p in moved.iterdir())
        summary = run_campaign(load(spec), run_config(sandbox))
    assert len(read) == 1  # the one job with files to fetch again, read whole
    assert summary.videos_downloaded == 6 and sorted(dict(summary.video_failures)) == ["clip-2/1", "clip-2/2"]
    assert all("symbolic link" in why for _, why in summary.video_failures)
    assert sorted((p.name, p.read_bytes()) for p in moved.iterdir()) == before


def test_a_rerun_with_nothing_to_do_goes_through_the_jobs_once_and_one_that_wrote_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The summary of a rerun that wrote nothing is the tally of its start's pass (one pass over the jobs, not
    two); a rerun whose end recorded something (here the credits an earlier run could not learn) is summarised
    afresh, and shows it."""
    from photogpt_batch.ledger import paged

    spec = write_campaign(tmp_path, jobs=4, num_videos=2)
    passes: list[int] = []
    pages = paged.PagedReads.brief_pages

    def counted(self: Ledger) -> Any:
        passes.append(1)
        return pages(self)

    with SandboxThread(fast_sandbox()) as sandbox:
        first = run_campaign(load(spec), run_config(sandbox))
        assert first.complete and first.credits_pending == 0 and first.credits
        monkeypatch.setattr(paged.PagedReads, "brief_pages", counted)
        again: Any = run_campaign(load(spec), run_config(sandbox))
        assert passes == [1]
        assert (again.complete, again.credits, again.credits_pending) == (True, first.credits, 0)
        with sqlite3.connect(ledger_path(tmp_path / "out")) as db:  # as if the API had not computed them yet
            db.execute("UPDATE jobs SET credits = NULL")
        passes.clear()
        learned: Any = run_campaign(load(spec), run_config(sandbox))
        assert posts(sandbox) == 4  # nothing sent again: the credits were asked for at the end
    assert passes == [1, 1]  # the start found them lacking; the end recorded them and went through again
    assert (learned.complete, learned.credits, learned.credits_pending) == (True, first.credits, 0)
