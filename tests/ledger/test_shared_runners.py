"""Runner processes on one shared ledger: the lock refuses a second, ``ledger unlock`` after a kill -9, fencing of
a paused runner, files per machine, ``ledger push`` / ``pull``, and the password never shown or written."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_in_process import run_main
from engine_helpers import (
    PausableClock,
    check_outputs,
    fast_sandbox,
    load,
    posts,
    run_config,
    wait_until,
    write_campaign,
)
from pg_server import PASSWORD, Cluster
from test_stores_engine import env_for

from photogpt_batch.ledger import Ledger, SqliteLedger, pg_admin, transfer
from photogpt_batch.ledger.postgres import PostgresLedger
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread

# A PostgreSQL cluster (initdb, pg_ctl) and runners in processes of their own (killed, paused). The commands
# run beside them run in this process (run_main): what they print and return is the point, not the process.
pytestmark = pytest.mark.slow

SLOW = dict(generation_seconds=(0.8, 1.5))


def start(spec: Path, output: Path, env: dict[str, str], *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "photogpt_batch", "run", str(spec), "--output", str(output),
                             "--concurrency", "3", "--rate", "1000", "--quiet", *flags], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def duplicates(sandbox: SandboxThread) -> int:
    return sum(n - 1 for n in sandbox.counters.duplicate_payloads().values())


def doubted(url: str, output: Path) -> int:
    with Ledger.open_for_reading(output, url=url, campaign="t") as ledger:
        return sum(1 for r in ledger.jobs() for e in ledger.events(r.row) if e.to_state == "in_doubt")


def test_a_second_runner_is_refused_then_completes_after_kill_and_unlock(tmp_path: Path,
                                                                        pg_cluster: Cluster) -> None:
    url = pg_cluster.url(pg_cluster.new_database())
    spec = write_campaign(tmp_path, jobs=10)
    first_out, second_out = tmp_path / "machine-1", tmp_path / "machine-2"
    clock = PausableClock()
    with SandboxThread(fast_sandbox(**SLOW, clock=clock)) as sandbox:
        env = env_for(sandbox, url)
        # The first runner sends 3 jobs (its concurrency) and, with the clock stopped, waits on them: it still
        # holds the lock while the next commands run, however slowly they start.
        clock.pause()
        first = start(spec, first_out, env)
        try:
            wait_until(lambda: posts(sandbox) >= 3)
            refused = run_main(["run", str(spec), "--output", str(second_out), "--quiet"], env)
            assert refused.returncode == 2, refused.stderr
            assert "campaign 't' is being run by" in refused.stderr and f"pid {first.pid}" in refused.stderr
            assert "since" in refused.stderr and PASSWORD not in refused.stderr
            status = run_main(["status", str(spec), "--output", str(second_out), "--json"], env)
            where = json.loads(status.stdout)["ledger"]
            assert where["shared"] and where["lock"]["pid"] == first.pid and PASSWORD not in status.stdout
            plan = run_main(["plan", str(spec)], env)
            assert "locked by" in plan.stderr and f"pid {first.pid}" in plan.stderr
        finally:
            first.kill()
            first.communicate(timeout=10)
            clock.resume()
        locks = run_main(["ledger", "locks"], env)
        assert locks.returncode == 0 and locks.stdout.startswith("t: ")
        assert run_main(["ledger", "unlock", str(spec)], env).returncode == 2  # no terminal to ask on, no --yes
        unlocked = run_main(["ledger", "unlock", str(spec), "--yes"], env)
        assert unlocked.returncode == 0 and "unlocked campaign 't'" in unlocked.stdout
        second = run_main(["run", str(spec), "--output", str(second_out), "--concurrency", "8", "--rate", "1000",
                      "--quiet"], env)
        assert second.returncode in (0, 1), second.stderr
        assert duplicates(sandbox) == 0  # nothing paid twice; in-doubt jobs wait for --resubmit-in-doubt
        if second.returncode == 1:
            assert "in doubt" in second.stderr
            final = run_main(["run", str(spec), "--output", str(second_out), "--rate", "1000", "--quiet",
                         "--resubmit-in-doubt"], env)
            assert final.returncode == 0, final.stderr
        assert duplicates(sandbox) <= doubted(url, second_out)
        check_outputs(second_out, 10)
        sent = posts(sandbox)
        rerun = run_main(["run", str(spec), "--output", str(first_out), "--rate", "1000", "--quiet"], env)
        assert rerun.returncode == 0, rerun.stderr
        assert posts(sandbox) == sent  # submits nothing: its folder is completed by downloads
        check_outputs(first_out, 10)


def pause_outside_a_transaction(runner: subprocess.Popen[str], url: str) -> None:
    """SIGSTOP ``runner`` at a moment it has no transaction open on the shared ledger, so that the takeover is the
    plain one: paused in the middle of a write, it holds the lock's row, and the newcomer first ends its session
    (tested on its own in test_lock_takeover.py, where the stuck write is made on purpose). A pause that lands
    inside a transaction lets the runner go on until the transaction has ended, and tries again."""
    import psycopg

    def open_transactions() -> int:
        with psycopg.connect(url, autocommit=True) as conn:
            found = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'photogpt-batch'"
                                 " AND xact_start IS NOT NULL AND pid <> pg_backend_pid()").fetchone()
        return int(found[0]) if found is not None else 0

    for _ in range(50):
        runner.send_signal(signal.SIGSTOP)
        if open_transactions() == 0:
            return
        runner.send_signal(signal.SIGCONT)
        wait_until(lambda: open_transactions() == 0, timeout=20)  # its transactions last milliseconds
    raise AssertionError("the runner was inside a transaction at every pause")


def test_a_paused_runner_whose_lock_was_taken_over_sends_nothing_more(tmp_path: Path, pg_cluster: Cluster,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOGPT_BATCH_LOCK_TIMEOUT", "1")  # for this process's view of the lock, too
    url = pg_cluster.url(pg_cluster.new_database())
    spec = write_campaign(tmp_path, jobs=10)
    with SandboxThread(fast_sandbox(**SLOW)) as sandbox:
        env = env_for(sandbox, url, PHOTOGPT_BATCH_LOCK_TIMEOUT="1")
        first = start(spec, tmp_path / "machine-1", env)
        try:
            wait_until(lambda: posts(sandbox) >= 3)
            pause_outside_a_transaction(first, url)
            wait_until(lambda: (h := pg_admin.lock_holder(url, "t")) is not None and h.stale, timeout=20)
            second = run_main(["run", str(spec), "--output", str(tmp_path / "machine-2"), "--concurrency", "8",
                          "--rate", "1000"], env)  # not --quiet: the warning is progress output
            assert second.returncode in (0, 1), second.stderr
            assert "took over the stale lock of campaign 't'" in second.stderr
            sent = posts(sandbox)
            first.send_signal(signal.SIGCONT)
            _, stderr = first.communicate(timeout=60)
        finally:
            first.kill()
            first.wait(timeout=10)
        # It stops at its first write: refused by the fencing check, or cut off by the server for holding a
        # transaction open past the lock's timeout.
        assert first.returncode in (1, 2) and ("lost the lock" in stderr or "cannot be reached" in stderr), stderr
        assert posts(sandbox) == sent  # the paused runner sent nothing more
        assert duplicates(sandbox) == 0


def test_push_and_pull_keep_every_row_and_the_password_is_never_shown_or_written(tmp_path: Path,
                                                                                 pg_cluster: Cluster) -> None:
    url = pg_cluster.url(pg_cluster.new_database())
    spec = write_campaign(tmp_path, jobs=4, num_videos=2)
    with SandboxThread(fast_sandbox()) as sandbox:
        assert run_campaign(load(spec), run_config(sandbox)).complete  # on the folder's SQLite ledger
        env = env_for(sandbox, None)
        outputs = []
        pushed = run_main(["ledger", "push", str(spec), "--ledger", url], env)
        assert pushed.returncode == 0 and "copied 4 job version(s), 8 video(s)" in pushed.stdout, pushed.stderr
        again = run_main(["ledger", "push", str(spec), "--ledger", url], env)
        assert again.returncode == 0 and "nothing changed" in again.stdout
        pulled = run_main(["ledger", "pull", str(spec), "--output", str(tmp_path / "archive"), "--ledger", url], env)
        assert pulled.returncode == 0 and "copied" in pulled.stdout, pulled.stderr
        outputs += [pushed, again, pulled]
        with SqliteLedger.open_for_reading(tmp_path / "out") as local, \
                PostgresLedger.open_for_reading(tmp_path, url=url, campaign="t") as shared, \
                SqliteLedger.open_for_reading(tmp_path / "archive") as archive:
            content = transfer.dump(local)
            assert content["events"] and content["meta"]["campaign"] == "t"
            # each event keeps its run's server clock offset, so a copied doubt can still be judged
            assert all(event[-1] is not None for event in content["events"])
            assert transfer.dump(shared) == content == transfer.dump(archive)
        # pulled: the campaign runs from the archive folder's ledger now, not the shared one (one campaign, one
        # ledger), and it sends nothing again
        moved = run_main(["run", str(spec), "--output", str(tmp_path / "ci"), "--rate", "1000", "--quiet",
                          "--ledger", url], env)
        assert moved.returncode == 2 and f"--output {tmp_path / 'archive'}" in moved.stderr, moved.stderr
        rerun = run_main(["run", str(spec), "--output", str(tmp_path / "archive"), "--rate", "1000", "--quiet"], env)
        assert rerun.returncode == 0, rerun.stderr
        assert posts(sandbox) == 4
        outputs += [moved, rerun]
        # the shared campaign now has other content than a fresh folder's: refused both ways
        (tmp_path / "o").mkdir()
        other = write_campaign(tmp_path / "o", jobs=1)  # campaign 't' again, with one job, in its own folder
        fresh = run_config(sandbox)
        fresh.fresh = True  # on purpose: the campaign's paid jobs are in another folder of this machine
        assert run_campaign(load(other), fresh).complete
        clash = run_main(["ledger", "push", str(other), "--ledger", url], env)
        assert clash.returncode == 2 and "other content" in clash.stderr
        outputs.append(clash)
    for result in outputs:
        assert PASSWORD not in result.stdout + result.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
