"""The ledger's revision (`Ledger.revision`): every committed write of a campaign's content moves it on, on both
stores, through every way a write reaches a store (a group commit, a synchronous batch, a transaction of its own),
and another connection (another handle, another machine's run) sees it; what writes nothing leaves it as it was.

The op kinds and targets used here are checked against the ledger's own lists: an op (or a state) added later
fails this test until it is written here too, so the guard stays complete."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from pg_server import Cluster

from photogpt_batch.campaign import PlannedJob, content_hash
from photogpt_batch.layout import ledger_path
from photogpt_batch.ledger import (
    APPLICATION_ID,
    MIGRATIONS,
    IllegalTransition,
    JobState,
    JobTransition,
    Ledger,
    MoveVideo,
    Op,
    SetCredits,
    SetMeta,
    VideoState,
    VideoTransition,
)
from photogpt_batch.ledger.ops import Barrier


def planned(job_id: str, prompt: str = "a cat on a skateboard", n: int = 1) -> PlannedJob:
    body = {"modelID": "veo-3.1", "prompt": prompt, "numVideos": n}
    return PlannedJob(job_id, "veo-3.1", body, content_hash(body))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None``: the folder's SQLite ledger; else a fresh database on the session's PostgreSQL cluster."""
    if request.param == "sqlite":
        yield None
        return
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    yield cluster.url(cluster.new_database())


#: A step of a test: a call, whose result is awaited if it is awaitable.
Step = Callable[[], Awaitable[object] | object]


async def run(step: Step, raises: type[Exception] | None) -> None:
    """Take ``step``; it must raise ``raises`` if that is given."""
    if raises is None:
        result = step()
        if isinstance(result, Awaitable):
            await result
        return
    with pytest.raises(raises):
        result = step()
        if isinstance(result, Awaitable):
            await result


class Watch:
    """Checks that each step moves the revision on (or not), as the writing handle and a reader both see it."""

    def __init__(self, ledger: Ledger, reader: Ledger) -> None:
        self.ledger, self.reader = ledger, reader
        self.ops: set[type[Op]] = set()
        self.targets: set[JobState | VideoState] = set()

    async def moves(self, what: str, step: Step, raises: type[Exception] | None = None) -> None:
        before = self.ledger.revision()
        assert self.reader.revision() == before
        await run(step, raises)
        after = self.ledger.revision()
        assert after != before, f"{what} did not move the revision on"
        assert self.reader.revision() == after, f"{what}: another connection does not see the new revision"

    async def stays(self, what: str, step: Step, raises: type[Exception] | None = None) -> None:
        before = self.ledger.revision()
        await run(step, raises)
        assert self.ledger.revision() == before == self.reader.revision(), f"{what} moved the revision on"

    async def write(self, *ops: Op, durable: bool = True) -> None:
        """`Ledger.write` (the group commit), noting the kinds and targets of ``ops``."""
        for op in ops:
            self.ops.add(type(op))
            if isinstance(op, JobTransition | VideoTransition):
                self.targets.add(op.to)
        await self.ledger.write(*ops, durable=durable)
        if not durable:
            await self.ledger.flush()


async def test_every_kind_of_write_moves_the_revision_on_and_nothing_else_does(
        url: str | None, tmp_path: Path) -> None:
    output = tmp_path / "out"
    async with Ledger.open_for_run(output, url=url, campaign="c") as ledger:
        with Ledger.open_for_reading(output, url=url, campaign="c") as reader:
            w = Watch(ledger, reader)
            jobs = [planned("a", n=2), planned("b"), planned("c"), planned("d")]
            rows: dict[str, int] = {}
            await w.moves("register (new jobs)", lambda: rows.update(ledger.register(jobs)))
            a, b, c, d = (rows[k] for k in "abcd")
            await w.stays("register (nothing new)", lambda: ledger.register(jobs))
            await w.stays("recover_interrupted (nothing to recover)", ledger.recover_interrupted)
            await w.stays("flush", ledger.flush)
            await w.stays("reads", lambda: (ledger.jobs(), ledger.counts(), ledger.manifest_entries()))

            await w.moves("submitting", lambda: w.write(JobTransition(a, JobState.SUBMITTING)))
            await w.moves("submitted", lambda: w.write(JobTransition(a, JobState.SUBMITTED, remote_id="ra")))
            await w.moves("succeeded", lambda: w.write(JobTransition(a, JobState.SUCCEEDED, video_ids=("v1", "v2"),
                                                                      credits=1.0)))
            await w.moves("preparing (lazy)", lambda: w.write(VideoTransition(a, 1, VideoState.PREPARING),
                                                               durable=False))
            await w.moves("ready", lambda: w.write(VideoTransition(a, 1, VideoState.READY, url="http://x/1")))
            await w.moves("downloaded", lambda: w.write(VideoTransition(
                a, 1, VideoState.DOWNLOADED, path="a/1.mp4", bytes=10, sha256="ab" * 32)))
            await w.moves("moved", lambda: w.write(MoveVideo(a, 1, "a/v1/1.mp4")))
            await w.moves("video failed", lambda: w.write(VideoTransition(a, 2, VideoState.FAILED, error="x")))
            await w.moves("video pending", lambda: w.write(VideoTransition(a, 2, VideoState.PENDING)))
            await w.moves("credits", lambda: w.write(SetCredits(a, 2.0)))
            await w.moves("meta (an op)", lambda: w.write(SetMeta("endpoint", "sandbox")))
            await w.moves("set_meta", lambda: ledger.set_meta("picks", '{"jobs":[]}'))
            await w.moves("in doubt", lambda: w.write(JobTransition(b, JobState.SUBMITTING),
                                                       JobTransition(b, JobState.IN_DOUBT, error="cut")))
            await w.moves("planned again", lambda: w.write(JobTransition(b, JobState.PLANNED)))
            await w.moves("failed", lambda: w.write(JobTransition(b, JobState.SUBMITTING),
                                                    JobTransition(b, JobState.FAILED, error="no")))
            # An illegal op alone changes nothing; beside a legal one, that one is committed.
            await w.stays("an illegal transition", lambda: ledger.write(JobTransition(c, JobState.SUCCEEDED)),
                          IllegalTransition)
            await w.moves("a batch with an illegal transition", lambda: ledger.write(
                JobTransition(c, JobState.SUCCEEDED), JobTransition(c, JobState.SUBMITTING)), IllegalTransition)
            await w.moves("recover_interrupted", ledger.recover_interrupted)  # c was left submitting
            await w.moves("register (a new version)", lambda: ledger.register([planned("d", prompt="a dog")]))
            await w.moves("register (the earlier content back)", lambda: ledger.register([planned("d")]))
            assert ledger.job("d").row == d  # type: ignore[union-attr]
            await w.stays("flush, at the end", ledger.flush)

    # Every op that changes the ledger, and every state a transition can go to, was written above.
    assert w.ops == set(Op.__subclasses__()) - {Barrier}
    assert w.targets == set(JobTransition._SQL) | set(VideoTransition._SQL)


async def test_a_copy_of_the_content_moves_its_targets_revision_on(url: str | None, tmp_path: Path) -> None:
    """`Ledger.import_content` (``ledger push`` / ``pull``) writes in a transaction of its own."""
    async with Ledger.open_for_run(tmp_path / "a", url=url, campaign="a") as source:
        rows = source.register([planned("x")])
        await source.mark_submitting(rows["x"])
        content = source.export_content()
    async with Ledger.open_for_run(tmp_path / "b", url=url, campaign="b") as target:
        before = target.revision()
        target.import_content(content)
        assert target.revision() != before
        assert target.job("x").state is JobState.SUBMITTING  # type: ignore[union-attr]


async def test_another_runs_writes_move_the_revision_a_reader_sees(url: str | None, tmp_path: Path) -> None:
    """Runs one after the other (on the shared ledger: from other folders, as other machines would) each move the
    revision on from where the last left it; a reader open all along sees each."""
    first = tmp_path / "one"
    async with Ledger.open_for_run(first, url=url, campaign="c") as ledger:
        ledger.register([planned("a")])
    with Ledger.open_for_reading(first, url=url, campaign="c") as reader:
        seen = {reader.revision()}
        for k in range(3):
            # The folder's ledger is written by runs in its folder; the shared one by runs from anywhere.
            where = first if url is None else tmp_path / f"machine-{k}"
            async with Ledger.open_for_run(where, url=url, campaign="c") as run:
                run.register([planned("a", prompt=f"take {k}")])
            seen.add(reader.revision())
            assert len(seen) == k + 2
        # Another campaign of the shared ledger has its own revision: its writes do not move this one.
        if url is not None:
            before = reader.revision()
            async with Ledger.open_for_run(tmp_path / "other", url=url, campaign="other") as other:
                other.register([planned("a")])
                assert other.revision() != before
            assert reader.revision() == before


def test_a_ledger_made_again_does_not_repeat_the_revisions_of_the_one_it_replaces(tmp_path: Path) -> None:
    output = tmp_path / "out"
    with Ledger.open_for_run(output) as ledger:
        ledger.register([planned("a")])
        first = ledger.revision()
    for path in ledger_path(output).parent.glob("ledger.sqlite3*"):
        path.unlink()
    with Ledger.open_for_run(output) as ledger:
        ledger.register([planned("a")])
        assert ledger.revision() != first  # the same count of writes, another epoch
    assert Ledger.in_memory().revision() != Ledger.in_memory().revision()


def test_a_ledger_of_an_earlier_schema_gets_a_revision_when_migrated(tmp_path: Path) -> None:
    output = tmp_path / "out"
    path = ledger_path(output)
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path, isolation_level=None) as conn:  # the schema before the revision (version 4)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version (version) VALUES (4)")
        for step in MIGRATIONS[:4]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    with Ledger.open_for_reading(output) as reader:  # migrated first
        before = reader.revision()
        with Ledger.open_for_run(output) as ledger:
            ledger.register([planned("a")])
        assert reader.revision() != before
