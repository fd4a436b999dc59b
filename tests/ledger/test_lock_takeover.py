"""The shared lock under takeovers: a runner frozen while it waits out a 429 sends nothing once its lock was
taken over (every attempt of a POST proves the lock), the doubt it leaves is kept for the user while it may be
alive, and a lock's staleness is judged by its holder's own timeout, never by a newcomer's."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import fast_sandbox, load, posts, wait_until, write_campaign
from pg_server import Cluster
from test_shared_runners import duplicates, start
from test_stores_engine import cli, config, env_for

from photogpt_batch.ledger import JobState, Ledger, pg_admin
from photogpt_batch.ledger.postgres import PostgresLedger
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import Faults, SandboxThread

# A PostgreSQL cluster (initdb, pg_ctl) and the CLI in processes of their own.
pytestmark = pytest.mark.slow

POST = "POST /videos/generation"


def stale(url: str) -> bool:
    holder = pg_admin.lock_holder(url, "t")
    return holder is not None and holder.stale


def test_a_runner_frozen_in_a_retry_after_sends_nothing_once_its_lock_was_taken_over(
        tmp_path: Path, pg_cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOGPT_BATCH_LOCK_TIMEOUT", "1")  # for the runs in this process, too
    url = pg_cluster.url(pg_cluster.new_database())
    spec = write_campaign(tmp_path, jobs=1)
    # The first POST gets a 429 with a Retry-After long enough to freeze the runner inside it.
    faults = Faults(rate_limit_nth=(1,), rate_limit_routes=(POST,), retry_after_seconds=4)
    with SandboxThread(fast_sandbox(faults=faults)) as sandbox:
        env = env_for(sandbox, url, PHOTOGPT_BATCH_LOCK_TIMEOUT="1")
        first = start(spec, tmp_path / "machine-1", env)
        try:
            wait_until(lambda: sandbox.counters.responses[f"{POST} 429"] >= 1)
            first.send_signal(signal.SIGSTOP)  # a suspended laptop: its retry is pending, its intent recorded
            wait_until(lambda: stale(url), timeout=20)
            # A second runner takes the lock over. The job the frozen one left submitting is in doubt, and it
            # is not settled (nor sent) while that runner may still be alive, even with GET /jobs showing
            # nothing and the settling delay at zero.
            taken = run_campaign(load(spec), config(sandbox, url, in_doubt_settle_seconds=0))
            assert taken.in_doubt == ["clip-1"] and posts(sandbox) == 1
            first.send_signal(signal.SIGCONT)
            _, stderr = first.communicate(timeout=60)
        finally:
            first.kill()
            first.wait(timeout=10)
        assert first.returncode in (1, 2) and "lost the lock" in stderr, stderr
        assert posts(sandbox) == 1  # its pending retry never went out
        assert sandbox.counters.jobs_created == 0
        # Its process is gone now, on this machine: the next run settles the doubt and sends the job once.
        final = run_campaign(load(spec), config(sandbox, url, in_doubt_settle_seconds=0))
        assert final.complete, final
        assert sandbox.counters.jobs_created == 1 and duplicates(sandbox) == 0


def test_a_lock_is_stale_by_its_holders_own_timeout_not_a_newcomers(tmp_path: Path, pg_cluster: Cluster,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    url = pg_cluster.url(pg_cluster.new_database())
    spec = write_campaign(tmp_path, jobs=1)
    with SandboxThread(fast_sandbox()) as sandbox:
        monkeypatch.setenv("PHOTOGPT_BATCH_LOCK_TIMEOUT", "30")
        holder = PostgresLedger.open_for_run(tmp_path / "m1", url=url, campaign="t", check_folder=False)
        try:
            assert holder._heartbeat is not None
            holder._heartbeat.stop()  # no heartbeat from here on, as from a holder paused a few seconds
            wait_until(lambda: (h := pg_admin.lock_holder(url, "t")) is not None and (h.heartbeat_age or 0) > 3)
            # A newcomer whose own timeout (2 s) has passed: the holder's (30 s) has not, so it is refused.
            refused = cli(["run", str(spec), "--output", str(tmp_path / "m2"), "--quiet"],
                          env_for(sandbox, url, PHOTOGPT_BATCH_LOCK_TIMEOUT="2"))
            assert refused.returncode == 2, refused.stderr
            assert "is being run by" in refused.stderr and "its timeout: 30 s" in refused.stderr
            assert posts(sandbox) == 0
        finally:
            holder.close()
        # A holder with a short timeout of its own goes stale by it, whatever the newcomer's setting.
        monkeypatch.setenv("PHOTOGPT_BATCH_LOCK_TIMEOUT", "1")
        short = PostgresLedger.open_for_run(tmp_path / "m1", url=url, campaign="t", check_folder=False)
        try:
            assert short._heartbeat is not None
            short._heartbeat.stop()
            wait_until(lambda: stale(url))
            taken = cli(["run", str(spec), "--output", str(tmp_path / "m2"), "--rate", "1000"],
                        env_for(sandbox, url, PHOTOGPT_BATCH_LOCK_TIMEOUT="600"))
            assert taken.returncode == 0, taken.stderr
            assert "took over the stale lock of campaign 't'" in taken.stderr
        finally:
            short.close()
        with Ledger.open_for_reading(tmp_path, url=url, campaign="t") as ledger:
            assert [r.state for r in ledger.jobs()] == [JobState.SUCCEEDED]


def test_a_stale_holder_stuck_in_the_middle_of_a_write_is_ended_and_its_lock_taken_over(
        tmp_path: Path, pg_cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """A runner stopped while it sends a write (its statements pipelined, the last not sent yet) holds the lock's
    row, and the server's idle-in-transaction timeout does not end a session waiting for the rest of a pipeline:
    here, a session of the tool's with that timeout off, in the middle of a write on the row. Once the lock is stale
    by its holder's own timeout, a newcomer ends that session and takes the lock over, instead of waiting for it
    and giving up ("another run is in the middle of a write")."""
    import psycopg

    from photogpt_batch.ledger.migrations import PG_SCHEMA
    from photogpt_batch.ledger.pg_lock import APPLICATION

    url = pg_cluster.url(pg_cluster.new_database())
    spec = write_campaign(tmp_path, jobs=1)
    monkeypatch.setenv("PHOTOGPT_BATCH_LOCK_TIMEOUT", "1")
    holder = PostgresLedger.open_for_run(tmp_path / "m1", url=url, campaign="t", check_folder=False)
    stuck = psycopg.connect(url, autocommit=True, application_name=APPLICATION)
    try:
        assert holder._heartbeat is not None
        holder._heartbeat.stop()  # frozen: no heartbeat from here on
        stuck.execute(f"SET search_path TO {PG_SCHEMA}")
        stuck.execute("SET idle_in_transaction_session_timeout = 0")  # as a session waiting mid-pipeline
        stuck.execute("BEGIN")
        stuck.execute("UPDATE locks SET heartbeat = now() WHERE campaign = 't'")  # the write's fencing check
        wait_until(lambda: stale(url), timeout=20)
        with SandboxThread(fast_sandbox()) as sandbox:
            taken = cli(["run", str(spec), "--output", str(tmp_path / "m2"), "--rate", "1000"],
                        env_for(sandbox, url, PHOTOGPT_BATCH_LOCK_TIMEOUT="600"))
            assert taken.returncode == 0, taken.stderr
            assert "took over the stale lock of campaign 't'" in taken.stderr
            assert posts(sandbox) == 1
        with pytest.raises(psycopg.OperationalError):  # its session was ended: its write rolled back
            stuck.execute("COMMIT")
    finally:
        stuck.close()
        holder.close()
    with Ledger.open_for_reading(tmp_path, url=url, campaign="t") as ledger:
        assert [r.state for r in ledger.jobs()] == [JobState.SUCCEEDED]


def test_the_takeover_torture_loses_nothing_and_every_woken_run_sends_nothing(pg_cluster: Cluster) -> None:
    """bench/torture.py's takeover loop, tiny: runs frozen and taken over, then woken, on the shared ledger."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "torture.py"
    proc = subprocess.run([sys.executable, str(bench), "takeover-loop", "--ledger",
                           pg_cluster.url(pg_cluster.new_database()), "--jobs", "8", "--takeovers", "2",
                           "--generation", "0.5,1", "--prepare", "0.1", "--min-delay", "0.5", "--max-delay", "1",
                           "--json"], capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout)
    assert report["takeovers"] >= 1 and report["wokenStopped"] == report["takeovers"], report["woken"]
    assert (report["lost"], report["silentDuplicates"], report["corrupt"], report["manifestProblems"]) == (0, 0, 0, 0)
    assert report["silentBeforeFlags"] == 0 and report["videosVerified"] == 8
