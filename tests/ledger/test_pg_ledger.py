"""The shared PostgreSQL ledger against a real server: transitions, versions, group commit, migrations, the run
lock with its fencing, and every fault at opening with its message (never the password)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest
from pg_server import PASSWORD, Cluster

from photogpt_batch.campaign import PlannedJob, content_hash
from photogpt_batch.ledger import (
    PG_MIGRATIONS,
    PG_SCHEMA_VERSION,
    IllegalTransition,
    JobState,
    JobTransition,
    Ledger,
    LedgerLocked,
    LedgerTooNew,
    LedgerUnusable,
    LockLost,
    VideoState,
)
from photogpt_batch.ledger import pg_connect as pg

# A PostgreSQL cluster (initdb, pg_ctl) and, for most, the CLI in processes of their own.
pytestmark = pytest.mark.slow


def planned(job_id: str, prompt: str = "a cat on a skateboard", n: int = 1) -> PlannedJob:
    body = {"modelID": "veo-3.1", "prompt": prompt, "numVideos": n}
    return PlannedJob(job_id, "veo-3.1", body, content_hash(body))


async def test_transitions_versions_events_and_meta_per_campaign(pg_url: str, tmp_path: Path) -> None:
    async with Ledger.open_for_run(tmp_path, url=pg_url, campaign="alpha") as ledger:
        rows = ledger.register([planned("a"), planned("b", n=2)])
        await asyncio.gather(*(ledger.mark_submitting(row) for row in rows.values()))
        await ledger.mark_submitted(rows["a"], "remote-a")
        await ledger.mark_in_doubt(rows["b"], "cut")
        await ledger.mark_succeeded(rows["a"], ["v1"], credits=2.5)
        await ledger.mark_video_preparing(rows["a"], 1)
        await ledger.mark_video_ready(rows["a"], 1, "http://x/v1")
        await ledger.mark_video_downloaded(rows["a"], 1, "a/1.mp4", 10, "ab" * 32)
        with pytest.raises(IllegalTransition):
            await ledger.write(JobTransition(rows["a"], JobState.SUBMITTING))
        ledger.set_meta("picks", "[1]")
        assert ledger.commits >= 1
        # a new version when the content changes; the old one kept
        ledger.register([planned("a", prompt="a dog"), planned("b", n=2)])
        versions = ledger.versions("a")
        assert [v.current for v in versions] == [False, True]
        assert versions[0].videos[0].state is VideoState.DOWNLOADED and versions[0].credits == 2.5
        assert ledger.job("b").state is JobState.IN_DOUBT  # type: ignore[union-attr]
        assert [e.to_state for e in ledger.events(rows["a"])][:3] == ["planned", "submitting", "submitted"]
        assert ledger.remote_ids() == {"remote-a"}
        assert ledger.meta("picks") == "[1]"
    # another campaign in the same database sees none of it
    async with Ledger.open_for_run(tmp_path / "other", url=pg_url, campaign="beta") as beta:
        assert beta.jobs() == [] and beta.meta("picks") is None and not beta.anything_sent()
        beta.register([planned("a")])
    with Ledger.open_for_reading(tmp_path, url=pg_url, campaign="alpha") as reader:
        assert reader.counts()["jobs"] == {"planned": 1, "in_doubt": 1}
        # the downloaded version is no longer current: listed as version 1, not current
        assert [(e["jobId"], e["version"], e["current"]) for e in reader.manifest_entries()] == [("remote-a", 1, False)]


def test_migrates_from_empty_and_from_every_earlier_version(pg_cluster: Cluster) -> None:
    for start in range(PG_SCHEMA_VERSION + 1):
        url = pg_cluster.url(pg_cluster.new_database())
        with pg.connect(url) as conn:
            if start:
                pg.migrate(conn, url, target=start)
                assert pg.schema_version(conn, url) == start
            pg.migrate(conn, url)
            assert pg.schema_version(conn, url) == PG_SCHEMA_VERSION
            tables = {r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'photogpt_batch'")}
        assert {"jobs", "videos", "events", "meta", "locks", "schema_version"} <= tables
    assert len(PG_MIGRATIONS) == PG_SCHEMA_VERSION


def test_a_newer_schema_is_refused_and_left_alone(pg_url: str, tmp_path: Path) -> None:
    Ledger.open_for_run(tmp_path, url=pg_url, campaign="c").close()
    with pg.connect(pg_url) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(LedgerTooNew, match="upgrade photogpt-batch") as caught:
        Ledger.open_for_run(tmp_path, url=pg_url, campaign="c")
    assert PASSWORD not in str(caught.value)
    with pg.connect(pg_url) as conn:
        assert pg.schema_version(conn, pg_url) == 99


def test_faults_at_opening_are_clear_and_never_show_the_password(pg_cluster: Cluster, tmp_path: Path) -> None:
    db = pg_cluster.new_database()
    wrong = pg_cluster.url(db).replace(PASSWORD, "wrong-" + PASSWORD[::-1])
    with pytest.raises(LedgerUnusable, match="refused the login") as caught:
        Ledger.open_for_run(tmp_path, url=wrong, campaign="c")
    assert "wrong-" not in str(caught.value)
    unreachable = f"postgresql://runner:{PASSWORD}@127.0.0.1:1/{db}"
    with pytest.raises(LedgerUnusable, match="cannot reach the shared ledger") as caught:
        Ledger.open_for_run(tmp_path, url=unreachable, campaign="c")
    assert PASSWORD not in str(caught.value) and "postgresql://runner@127.0.0.1:1/" in str(caught.value)
    pg_cluster.admin(f"REVOKE CREATE ON DATABASE {db} FROM PUBLIC")
    no_rights = pg_cluster.url(db, user="reader").replace(PASSWORD, "reader")
    with pytest.raises(LedgerUnusable, match="right to create"):
        Ledger.open_for_run(tmp_path, url=no_rights, campaign="c")


def test_a_second_runner_is_refused_naming_the_holder(pg_url: str, tmp_path: Path) -> None:
    with Ledger.open_for_run(tmp_path, url=pg_url, campaign="c") as first:
        with pytest.raises(LedgerLocked, match=r"campaign 'c' is being run by .*@.* \(pid \d+.*since") as caught:
            Ledger.open_for_run(tmp_path / "elsewhere", url=pg_url, campaign="c")
        assert "ledger unlock" in str(caught.value)
        holder = first.lock_holder()
        assert holder is not None and holder.run_id == first.run_id  # type: ignore[attr-defined]
    with Ledger.open_for_run(tmp_path, url=pg_url, campaign="c"):  # released on close
        pass


async def test_a_stale_lock_is_taken_over_and_the_old_holder_records_nothing(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOGPT_BATCH_LOCK_TIMEOUT", "0.5")
    old = Ledger.open_for_run(tmp_path, url=pg_url, campaign="c")
    rows = old.register([planned("a")])
    old._heartbeat.stop()  # type: ignore[attr-defined]  # as if the process were paused
    deadline = asyncio.get_running_loop().time() + 10
    new = None
    while new is None:
        try:
            new = Ledger.open_for_run(tmp_path / "b", url=pg_url, campaign="c")
        except LedgerLocked:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
    assert new.warning and "took over the stale lock" in new.warning
    with pytest.raises(LockLost):
        await old.mark_submitting(rows["a"])  # the intent is not recorded, so the POST is never sent
    await old.aclose()
    assert new.job("a").state is JobState.PLANNED  # type: ignore[union-attr]
    await new.mark_submitting(rows["a"])
    await new.aclose()


def test_reading_an_empty_database_is_an_empty_ledger(pg_url: str, tmp_path: Path) -> None:
    with Ledger.open_for_reading(tmp_path, url=pg_url, campaign="c") as reader:
        assert reader.jobs() == [] and "campaign c" in reader.location and PASSWORD not in reader.location
    with psycopg.connect(pg_url) as conn:  # and nothing was created
        row = conn.execute("SELECT to_regclass('photogpt_batch.jobs')").fetchone()
        assert row is not None and row[0] is None


def test_libpq_conventions_supply_the_password(pg_cluster: Cluster, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    db = pg_cluster.new_database()
    bare = pg_cluster.url(db, password=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    with pytest.raises(LedgerUnusable, match=r"refused the login|no password"):
        Ledger.open_for_reading(tmp_path, url=bare, campaign="c")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # PG* variables fill in what the URL leaves out
    Ledger.open_for_run(tmp_path, url=bare, campaign="c").close()
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{pg_cluster.port}:{db}:runner:{PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))  # as ~/.pgpass
    with Ledger.open_for_reading(tmp_path, url=bare, campaign="c") as reader:
        assert reader.jobs() == []


def test_urls_are_shown_without_their_password() -> None:
    from photogpt_batch.ledger import LedgerUrlError, ledger_url, redact
    from photogpt_batch.ledger.stores import scrub

    url = "postgresql://bob:p%40ss@db.example.com:5432/photogpt?sslmode=require&password=other"
    assert redact(url) == "postgresql://bob@db.example.com:5432/photogpt?sslmode=require"
    said = scrub(f"invalid token near p@ss, p%40ss or other in {url}", url)
    assert "p@ss" not in said and "p%40ss" not in said and "other" not in said
    with pytest.raises(LedgerUrlError, match="must be a postgresql:// URL") as caught:
        ledger_url("mysql://bob:secret@host/db")
    assert "secret" not in str(caught.value)
    assert ledger_url("  ") is None


async def test_a_batch_with_an_illegal_transition_commits_the_others(pg_url: str, tmp_path: Path) -> None:
    async with Ledger.open_for_run(tmp_path, url=pg_url, campaign="c") as ledger:
        rows = ledger.register([planned("a"), planned("b"), planned("c")])
        outcomes = await asyncio.gather(
            ledger.mark_submitting(rows["a"]),
            ledger.mark_submitted(rows["b"], "never-submitting"),  # planned -> submitted is not allowed
            ledger.mark_submitting(rows["c"]),
            return_exceptions=True)
        assert outcomes[0] is None and outcomes[2] is None and isinstance(outcomes[1], IllegalTransition)
        # in one batch: the submission and its success, the success's videos and their first step
        await asyncio.gather(ledger.mark_submitted(rows["a"], "ra"),
                             ledger.mark_succeeded(rows["a"], ["v1", "v2"], durable=False),
                             ledger.mark_video_preparing(rows["a"], 2))
        assert [v.state for v in ledger.record(rows["a"]).videos] == [VideoState.PENDING, VideoState.PREPARING]
        assert ledger.job("b").state is JobState.PLANNED  # type: ignore[union-attr]
        assert [e.to_state for e in ledger.events(rows["b"])] == ["planned"]
