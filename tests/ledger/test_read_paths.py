"""The ledger's read paths at the end of a run hold one copy of what they need: the summary goes through the
current versions a page at a time, holding none of them whole, the credits' question selects only the jobs that
lack credits (on both stores), and the manifest is rewritten entry by entry and compared with the file a block at
a time."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_server import Cluster

from photogpt_batch.campaign import Campaign, PlannedJob, content_hash
from photogpt_batch.engine.credits import lacking_credits
from photogpt_batch.engine.download import write_manifest
from photogpt_batch.engine.summary import summarise
from photogpt_batch.ledger import JobRecord, JobState, JobTransition, Ledger, VideoState, VideoTransition
from photogpt_batch.ledger import paged as ledger_paged


def planned(job_id: str, take: int = 0) -> PlannedJob:
    body = {"modelID": "veo-3.1-fast", "prompt": f"a cat {job_id} take {take}"}
    return PlannedJob(job_id, "veo-3.1-fast", body, content_hash(body))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """A ledger to write, on each store."""
    url = None
    if request.param == "postgres":
        cluster: Cluster = request.getfixturevalue("pg_cluster")
        url = cluster.url(cluster.new_database())
    opened = Ledger.open_for_run(tmp_path / "out", url=url, campaign="read-paths")
    try:
        yield opened
    finally:
        asyncio.run(opened.aclose())
        opened.close()


def _finish(ledger: Ledger, row: int, index: int, state: JobState, credits: float | None, videos: int = 1) -> None:
    """Take job row ``row`` through submission to ``state`` (a success with ``videos`` downloaded videos)."""
    ops: list[Any] = [JobTransition(row, JobState.SUBMITTING), JobTransition(row, JobState.SUBMITTED,
                                                                            remote_id=f"job_{index}")]
    if state == JobState.SUCCEEDED:
        ops.append(JobTransition(row, JobState.SUCCEEDED, video_ids=tuple(f"vid_{index}_{n}" for n in
                                                                          range(1, videos + 1)), credits=credits))
        for n in range(1, videos + 1):
            ops += [VideoTransition(row, n, VideoState.PREPARING),
                    VideoTransition(row, n, VideoState.READY, url="http://127.0.0.1:1/v.mp4"),
                    VideoTransition(row, n, VideoState.DOWNLOADED, path=f"j{index}/{n}.mp4", bytes=10,
                                    sha256="0" * 64)]
    elif state == JobState.FAILED:
        ops.append(JobTransition(row, JobState.FAILED, error="no", credits=credits))

    async def write() -> None:
        await ledger.write(*ops)

    asyncio.run(write())


def test_the_jobs_lacking_credits_are_selected_by_the_store_not_out_of_every_record(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = [planned(f"j{i}") for i in range(6)]
    rows = ledger.register(jobs)
    _finish(ledger, rows["j0"], 0, JobState.SUCCEEDED, 40.0)  # has its credits
    _finish(ledger, rows["j1"], 1, JobState.SUCCEEDED, None)  # lacks them
    _finish(ledger, rows["j2"], 2, JobState.FAILED, None)  # lacks them
    _finish(ledger, rows["j3"], 3, JobState.SUBMITTED, None)  # not finished: not asked yet
    # j4 stays planned; j5's first version succeeded without credits, then the spec changed it.
    _finish(ledger, rows["j5"], 5, JobState.SUCCEEDED, None)
    ledger.register([planned("j5", take=1)])

    def every_record() -> list[JobRecord]:
        raise AssertionError("every record was read to find the few that lack credits")

    monkeypatch.setattr(ledger, "jobs", every_record)
    monkeypatch.setattr(ledger, "replaced", every_record)
    found = lacking_credits(ledger)
    assert sorted((r.job_id, r.current) for r in found) == [("j1", True), ("j2", True), ("j5", False)]


def test_the_summary_goes_through_the_current_versions_a_page_at_a_time(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = [planned(f"j{i}") for i in range(4)]
    monkeypatch.setattr(ledger_paged, "PAGE", 1)
    campaign = Campaign("read-paths", tmp_path / "out", tmp_path / "spec.yaml", jobs=jobs)
    with Ledger.open_for_run(campaign.output) as ledger:
        rows = ledger.register(jobs)
        _finish(ledger, rows["j0"], 0, JobState.SUCCEEDED, 40.0)
        _finish(ledger, rows["j1"], 1, JobState.FAILED, None)
        reads = []
        jobs_read = ledger.jobs

        def counted() -> list[JobRecord]:
            reads.append(1)
            return jobs_read()

        monkeypatch.setattr(ledger, "jobs", counted)
        monkeypatch.setattr(ledger, "iter_jobs", lambda: pytest.fail("the summary read every job's full record"))
        summary = summarise(ledger, campaign)
        asyncio.run(ledger.aclose())
    # A full read held every record at once at the end of a run: at 100,000 jobs, the run's peak of memory.
    assert reads == []
    assert (summary.succeeded, summary.videos_downloaded, summary.failed) == (1, 1, [("j1", "no")])
    assert summary.not_submitted == ["j2", "j3"] and summary.credits == 40.0


def test_the_current_versions_read_a_page_at_a_time_are_those_of_a_full_read(ledger: Ledger,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_paged, "PAGE", 2)
    rows = ledger.register([planned(f"j{i}") for i in range(7)])
    for index in (0, 3, 6):
        _finish(ledger, rows[f"j{index}"], index, JobState.SUCCEEDED, 5.0, videos=2)
    ledger.register([planned("j1", take=1), *(planned(f"j{i}") for i in range(7) if i != 1)])  # j1 changed
    assert list(ledger.iter_jobs()) == ledger.jobs()
    assert [r.job_id for r in ledger.iter_jobs()] == ["j0", "j2", "j3", "j4", "j5", "j6", "j1"]


def test_the_briefs_read_a_page_at_a_time_are_the_full_records_fields(ledger: Ledger,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's start and its summary go through `iter_briefs` (fewer columns, one joined statement a page): each
    brief is its full record's fields, its videos included, on both stores, across pages whose jobs have 0, 1
    or 2 videos."""
    monkeypatch.setattr(ledger_paged, "PAGE", 2)
    rows = ledger.register([planned(f"j{i}") for i in range(7)])
    for index in (0, 3, 6):
        _finish(ledger, rows[f"j{index}"], index, JobState.SUCCEEDED, 5.0, videos=2)
    _finish(ledger, rows["j4"], 4, JobState.SUCCEEDED, None)
    _finish(ledger, rows["j2"], 2, JobState.FAILED, 1.5)
    _finish(ledger, rows["j5"], 5, JobState.SUBMITTED, None)

    async def fail_a_video() -> None:
        await ledger.write(VideoTransition(rows["j6"], 2, VideoState.PENDING))
        await ledger.write(VideoTransition(rows["j6"], 2, VideoState.FAILED, error="cut off"))

    asyncio.run(fail_a_video())
    ledger.register([planned("j1", take=1), *(planned(f"j{i}") for i in range(7) if i != 1)])  # j1 changed
    briefs = list(ledger.iter_briefs())
    assert [[b.row for b in page] for page in ledger.brief_pages()] == [[r.row for r in ledger.jobs()][i:i + 2]
                                                                         for i in range(0, 7, 2)]
    assert [(b.row, b.job_id, b.state, b.content_hash, b.credits, b.remote_id, b.error,
             [(v.n, v.state, v.path, v.bytes, v.sha256, v.error) for v in b.videos]) for b in briefs] == [
        (r.row, r.job_id, r.state, r.content_hash, r.credits, r.remote_id, r.error,
         [(v.n, v.state, v.path, v.bytes, v.sha256, v.error) for v in r.videos]) for r in ledger.jobs()]
    assert [len(b.videos) for b in briefs] == [2, 0, 2, 1, 0, 2, 0]
    assert briefs[-2].videos[1].error == "cut off" and briefs[1].error == "no"


def test_the_summary_lists_jobs_in_the_specs_order_whatever_their_order_in_the_ledger(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_paged, "PAGE", 2)
    jobs = [planned(f"j{i}") for i in range(5)]
    campaign = Campaign("read-paths", tmp_path / "out", tmp_path / "spec.yaml", jobs=jobs)
    with Ledger.open_for_run(campaign.output) as ledger:
        ledger.register(jobs[2:])
        ledger.register(jobs)  # j0 and j1 come after the others in the ledger
        rows = ledger.register(jobs)
        for index in (4, 0, 2):
            _finish(ledger, rows[f"j{index}"], index, JobState.FAILED, None)
        summary = summarise(ledger, campaign)
        asyncio.run(ledger.aclose())
    assert [job for job, _ in summary.failed] == ["j0", "j2", "j4"]
    assert summary.not_submitted == ["j1", "j3"]


def test_the_manifest_is_built_entry_by_entry_and_compared_a_line_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "out"
    jobs = [planned(f"j{i}") for i in range(30)]
    # Read 4 rows at a time: pages end inside the jobs of 3 videos, and between jobs.
    monkeypatch.setattr(ledger_paged, "PAGE", 4)
    with Ledger.open_for_run(output) as ledger:
        rows = ledger.register(jobs)
        for i, job in enumerate(jobs):
            _finish(ledger, rows[job.id], i, JobState.SUCCEEDED, 1.0, videos=3 if i % 4 == 1 else 1)
        entries = ledger.iter_manifest_entries()
        assert iter(entries) is entries  # a generator: 20,000 dicts are never held at once
        listed = list(entries)
        assert [e["path"] for e in listed] == [f"j{i}/{n}.mp4" for i in range(30)
                                               for n in range(1, (3 if i % 4 == 1 else 1) + 1)]
        assert listed == ledger.manifest_entries()
        write_manifest(output, ledger, {})
        path = output / "manifest.jsonl"
        written = path.read_bytes()
        assert written.count(b"\n") == len(listed) == 30 + 2 * 8
        before = path.stat()
        write_manifest(output, ledger, {})  # unchanged: the file is left as it is
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        # A change in the last block, or a byte less, is found, and the file rewritten from the ledger.
        for damaged in (written[:-2] + b"X\n", written[:-1]):
            path.write_bytes(damaged)
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
            write_manifest(output, ledger, {})
            assert path.read_bytes() == written
        asyncio.run(ledger.aclose())


def test_the_current_versions_outside_a_run_are_read_by_their_rows(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = [planned(f"j{i}") for i in range(1203)]
    ledger.register(jobs)
    ledger.register([planned("j7", take=1)])  # j7's current version is its second
    held = {f"j{i}" for i in range(0, 1203, 2)}  # the run's jobs; the odd ones were removed or left out

    def every_record() -> list[JobRecord]:
        raise AssertionError("every record was read to find the jobs outside the run")

    expected = [r for r in ledger.jobs() if r.job_id not in held]
    monkeypatch.setattr(ledger, "jobs", every_record)
    found = ledger.current_outside(held)
    assert found == expected and len(found) == 601
    assert next(r for r in found if r.job_id == "j7").content_hash == planned("j7", take=1).content_hash


def test_the_manifest_check_at_opening_reads_whole_lines_a_block_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from photogpt_batch.ledger import LedgerError, folder

    output = tmp_path / "out"
    output.mkdir()
    ids = [f"job_{i:05d}" for i in range(200)]
    lines = [json.dumps({"job": f"j{i}", "jobId": job_id, "path": f"j{i}/1.mp4"}, separators=(",", ":"))
             for i, job_id in enumerate(ids)]
    lines[57] = lines[57].replace("job_00057", "job\\u005f00057")  # an escaped id is read as the same id
    (output / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(folder, "_BLOCK", 37)  # lines cut across blocks everywhere
    folder.check_manifest_known(output, "the ledger", lambda: set(ids))  # every id known: nothing to say
    with pytest.raises(LedgerError, match=r"does not know 1 job\(s\) .* \(such as job_00199\)"):
        folder.check_manifest_known(output, "the ledger", lambda: set(ids[:-1]))
    with pytest.raises(LedgerError, match=r"such as job_00057"):
        folder.check_manifest_known(output, "the ledger", lambda: set(ids) - {"job_00057"})


def test_a_downloaded_videos_expired_url_is_not_read_back(tmp_path: Path) -> None:
    # The largest field of a record, and never used again once the file is on disk; a ready video's URL is.
    jobs = [planned("done"), planned("ready")]
    with Ledger.open_for_run(tmp_path / "out") as ledger:
        rows = ledger.register(jobs)
        _finish(ledger, rows["done"], 0, JobState.SUCCEEDED, 1.0)
        ops: list[Any] = [JobTransition(rows["ready"], JobState.SUBMITTING),
                          JobTransition(rows["ready"], JobState.SUBMITTED, remote_id="job_r"),
                          JobTransition(rows["ready"], JobState.SUCCEEDED, video_ids=("vid_r",)),
                          VideoTransition(rows["ready"], 1, VideoState.PREPARING),
                          VideoTransition(rows["ready"], 1, VideoState.READY, url="http://127.0.0.1:1/r.mp4")]
        asyncio.run(ledger.write(*ops))
        videos = {r.job_id: r.videos[0] for r in ledger.jobs()}
        assert (videos["done"].state, videos["done"].url, videos["done"].path) == ("downloaded", None, "j0/1.mp4")
        assert (videos["ready"].state, videos["ready"].url) == ("ready", "http://127.0.0.1:1/r.mp4")
        asyncio.run(ledger.aclose())


def test_prices_are_learned_from_two_columns_a_page_at_a_time(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    from photogpt_batch.spend.pricing import ledger_history

    monkeypatch.setattr(ledger_paged, "PAGE", 2)
    jobs = [planned(f"j{i}") for i in range(6)]
    rows = ledger.register(jobs)
    for index in range(5):
        _finish(ledger, rows[f"j{index}"], index, JobState.SUCCEEDED if index != 3 else JobState.FAILED, 10.0 + index)
    ledger.register([planned("j0", take=1), *jobs[1:]])  # j0's paid version is replaced: it still counts

    def refused(*args: object) -> None:
        raise AssertionError("prices read every record, or a body per job")

    for name in ("jobs", "replaced", "body"):
        monkeypatch.setattr(ledger, name, refused)
    paid = [(item.body["prompt"], item.credits) for item in ledger_history(ledger)]
    assert paid == [(f"a cat j{i} take 0", 10.0 + i) for i in (0, 1, 2, 4)]


def test_the_doubts_are_selected_by_the_store(ledger: Ledger) -> None:
    rows = ledger.register([planned(f"j{i}") for i in range(3)])

    async def doubt() -> None:
        await ledger.write(JobTransition(rows["j1"], JobState.SUBMITTING),
                           JobTransition(rows["j1"], JobState.IN_DOUBT, error="cut off"))

    asyncio.run(doubt())
    assert [r.job_id for r in ledger.in_doubt()] == ["j1"]


def test_the_replaced_versions_are_read_again_only_when_the_ledger_moved(ledger: Ledger,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`Ledger.replaced` goes through every job (no index has ``current = 0``) and a run's start asks for it five
    times: it is read again only when a write moved the ledger's revision, on both stores."""
    rows = ledger.register([planned(f"j{i}") for i in range(3)])
    reads: list[str] = []
    select = ledger._select_jobs

    def counted(where: str, params: Any = ()) -> list[JobRecord]:
        reads.append(where)
        return select(where, params)

    monkeypatch.setattr(ledger, "_select_jobs", counted)
    assert ledger.replaced() == [] and ledger.replaced() == []
    assert len(reads) == 1
    ledger.register([planned("j1", take=1)])  # j1's content changed: its first version is replaced
    assert [(r.row, r.current) for r in ledger.replaced()] == [(rows["j1"], False)]
    _finish(ledger, rows["j0"], 0, JobState.FAILED, None)  # any write moves the revision
    assert [r.row for r in ledger.replaced()] == [rows["j1"]] and len(reads) == 3
    ledger.replaced().clear()  # each caller gets its own list
    assert len(ledger.replaced()) == 1


def test_status_reads_every_record_once_and_the_outside_ones_by_their_rows(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """status holds the report's records; it read them all a second time to find the versions of the jobs outside
    the spec (its peak of memory: 420 MB at 100,000 jobs, 256 MB since). A job removed from the spec while it
    generates is still reported as followed."""
    from photogpt_batch.views.status import read_status

    jobs = [planned(f"j{i}") for i in range(4)]
    with Ledger.open_for_run(tmp_path / "out") as ledger:
        rows = ledger.register(jobs)
        _finish(ledger, rows["j0"], 0, JobState.SUCCEEDED, 4.0)
        _finish(ledger, rows["j3"], 3, JobState.SUBMITTED, None)
        asyncio.run(ledger.aclose())
    monkeypatch.setattr(ledger_paged, "PAGE", 2)
    monkeypatch.setattr(Ledger, "jobs", lambda self: pytest.fail("status read every record at once"))
    campaign = Campaign("read-paths", tmp_path / "out", tmp_path / "spec.yaml", jobs=jobs[:3])  # j3 removed
    report = read_status(campaign)
    assert [(v.record.job_id, v.version) for v in report.outside_unfinished] == [("j3", 1)]
    assert [item.job_id for item in report.reconciliation.jobs] == ["j0", "j1", "j2"]
    assert (report.credits.total.credits, report.credits.total.pending) == (4.0, 1)
