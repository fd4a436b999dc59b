"""The engine's end-to-end, fault, kill -9 and resume tests that matter most, on both stores: the output
folder's SQLite ledger and the shared PostgreSQL one (a database of its own per test). The kill -9 and Ctrl-C
tests run here on the shared store; their SQLite twins are tests/engine/test_engine_process.py's."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_in_process import run_main
from engine_helpers import check_outputs, fast_sandbox, load, manifest, posts, run_config, wait_until, write_campaign
from pg_server import PASSWORD, Cluster

from photogpt_batch.ledger import JobState, Ledger
from photogpt_batch.runner import ConfigError, run_campaign
from photogpt_batch.sandbox import Faults, SandboxThread

# A PostgreSQL cluster (initdb, pg_ctl) and, for most, the CLI in processes of their own.
pytestmark = pytest.mark.slow

FAST_FLAGS = ["--concurrency", "8", "--rate", "1000", "--quiet"]


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` for the folder's SQLite ledger, else a URL to a fresh shared database."""
    if request.param == "sqlite":
        return None
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.url(cluster.new_database())


@pytest.fixture
def shared_url(pg_cluster: Cluster) -> str:
    """The shared store only: for the tests whose SQLite twin is in tests/engine/test_engine_process.py already."""
    return pg_cluster.url(pg_cluster.new_database())


def config(sandbox: SandboxThread, url: str | None, **engine):
    conf = run_config(sandbox, **engine)
    conf.ledger_url = url
    return conf


def reader(output: Path, url: str | None, campaign: str = "t") -> Ledger:
    return Ledger.open_for_reading(output, url=url, campaign=campaign)


def env_for(sandbox: SandboxThread, url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOTOGPT_", "PG"))}
    env.update(PHOTOGPT_BASE_URL=sandbox.base_url, PHOTOGPT_API_KEY="test-key", PYTHONUNBUFFERED="1", **extra)
    if url:
        env["PHOTOGPT_BATCH_LEDGER"] = url
    return env


def cli(args: list[str], env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "photogpt_batch", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_a_run_downloads_everything_and_a_rerun_sends_nothing(tmp_path: Path, ledger_url: str | None) -> None:
    spec = write_campaign(tmp_path, jobs=6, num_videos=2)
    with SandboxThread(fast_sandbox()) as sandbox:
        summary = run_campaign(load(spec), config(sandbox, ledger_url))
        assert summary.complete and posts(sandbox) == 6
        check_outputs(tmp_path / "out", 12)
        again = run_campaign(load(spec), config(sandbox, ledger_url))
        assert again.complete and posts(sandbox) == 6
    with reader(tmp_path / "out", ledger_url) as ledger:
        assert all(r.all_downloaded for r in ledger.jobs())
        assert ledger.meta("campaign") == "t"


def test_a_lost_post_response_is_in_doubt_and_resubmitted_only_when_asked(tmp_path: Path,
                                                                          ledger_url: str | None) -> None:
    with SandboxThread(fast_sandbox(faults=Faults(lost_post_nth=(1,), lost_post_mode="drop"))) as sandbox:
        spec = write_campaign(tmp_path, jobs=3)
        summary = run_campaign(load(spec), config(sandbox, ledger_url))
        assert len(summary.in_doubt) == 1
        again = run_campaign(load(spec), config(sandbox, ledger_url))
        assert again.in_doubt == summary.in_doubt and posts(sandbox) == 3  # no silent resend
        final = run_campaign(load(spec), config(sandbox, ledger_url, resubmit_in_doubt=True))
        assert final.complete and posts(sandbox) == 4
        check_outputs(tmp_path / "out", 3)


def test_sigkill_at_random_moments_then_resume_loses_nothing_and_pays_once(tmp_path: Path,
                                                                          shared_url: str) -> None:
    rng = random.Random(99)
    jobs = 16
    spec = write_campaign(tmp_path, jobs=jobs)
    with SandboxThread(fast_sandbox(generation_seconds=(0.05, 0.4))) as sandbox:
        env = env_for(sandbox, shared_url)
        for _ in range(3):
            proc = subprocess.Popen([sys.executable, "-m", "photogpt_batch", "run", str(spec), *FAST_FLAGS],
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            target = sum(sandbox.counters.requests.values()) + rng.randint(2, 30)

            def progressed(p: subprocess.Popen[bytes] = proc, t: int = target) -> bool:
                return p.poll() is not None or sum(sandbox.counters.requests.values()) >= t

            wait_until(progressed)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            # the killed run's lock is left behind: break it, as the user would
            assert run_main(["ledger", "unlock", str(spec), "--yes"], env).returncode == 0
        final = run_main(["run", str(spec), *FAST_FLAGS, "--resubmit-in-doubt"], env)
        assert final.returncode == 0, final.stderr
        check_outputs(tmp_path / "out", jobs)
        with reader(tmp_path / "out", shared_url) as ledger:
            assert all(r.state == JobState.SUCCEEDED for r in ledger.jobs())
            doubted = sum(1 for r in ledger.jobs() for e in ledger.events(r.row) if e.to_state == "in_doubt")
        duplicates = sum(n - 1 for n in sandbox.counters.duplicate_payloads().values())
        assert duplicates <= doubted and posts(sandbox) <= jobs + doubted


def test_ctrl_c_exits_130_and_the_resume_command_repeats_the_ledger_without_its_password(
        tmp_path: Path, shared_url: str) -> None:
    spec = write_campaign(tmp_path, jobs=8)
    with SandboxThread(fast_sandbox(generation_seconds=(1.0, 2.0))) as sandbox:
        env = env_for(sandbox, None)
        flags = ["--ledger", shared_url]
        proc = subprocess.Popen([sys.executable, "-m", "photogpt_batch", "run", str(spec), "--concurrency", "4",
                                 "--rate", "1000", "--quiet", *flags], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        wait_until(lambda: posts(sandbox) >= 4)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert "Resume with: photogpt-batch run" in stderr and "Traceback" not in stderr
        assert PASSWORD not in stderr
        assert f"--ledger {shared_url.replace(':' + PASSWORD, '')}" in stderr
        assert "PGPASSWORD or ~/.pgpass" in stderr
        with reader(tmp_path / "out", shared_url) as ledger:
            assert len([r for r in ledger.jobs() if r.remote_id]) == posts(sandbox)
        final = run_main(["run", str(spec), *FAST_FLAGS, *flags], env)
        assert final.returncode == 0, final.stderr
        assert posts(sandbox) == 8
        check_outputs(tmp_path / "out", 8)


def test_a_folder_missing_the_shared_ledgers_videos_downloads_them_and_submits_nothing(
        tmp_path: Path, pg_cluster: Cluster) -> None:
    url = pg_cluster.url(pg_cluster.new_database())
    spec = write_campaign(tmp_path, jobs=4, num_videos=2)
    with SandboxThread(fast_sandbox()) as sandbox:
        assert run_campaign(load(spec), config(sandbox, url)).complete
        first = manifest(tmp_path / "out")
        other = load(spec)
        other.output = tmp_path / "other-machine"
        summary = run_campaign(other, config(sandbox, url))
        assert summary.complete and posts(sandbox) == 4  # nothing submitted again
        assert sandbox.counters.requests.get("GET /videos/{id}/create-download", 0) == 16  # free: asked again
        entries = check_outputs(tmp_path / "other-machine", 8)
        assert sorted(e["jobId"] for e in entries) == sorted(e["jobId"] for e in first)
        # A folder whose manifest lists jobs the shared ledger does not know is refused (another campaign's).
        stray = load(spec)
        stray.name = "another"
        with pytest.raises(ConfigError, match="belongs to campaign 't', not 'another'"):
            run_campaign(stray, config(sandbox, url))
        (tmp_path / "out" / ".photogpt-batch" / "campaign").unlink()  # without the folder's claim, the manifest
        with pytest.raises(ConfigError, match="does not know 4 job"):
            run_campaign(stray, config(sandbox, url))
        assert posts(sandbox) == 4


def test_the_server_restarting_mid_run_stops_it_cleanly_and_a_rerun_resumes(tmp_path: Path,
                                                                            pg_cluster: Cluster) -> None:
    url = pg_cluster.url(pg_cluster.new_database())
    spec = write_campaign(tmp_path, jobs=12)
    with SandboxThread(fast_sandbox(generation_seconds=(0.5, 1.5))) as sandbox:
        env = env_for(sandbox, url)
        proc = subprocess.Popen([sys.executable, "-m", "photogpt_batch", "run", str(spec), "--concurrency", "4",
                                 "--rate", "1000", "--quiet"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: posts(sandbox) >= 4)
            pg_cluster.stop("fast")
            _, stderr = proc.communicate(timeout=60)
        finally:
            pg_cluster.start()
        assert proc.returncode in (1, 2), stderr
        assert "cannot be reached" in stderr and PASSWORD not in stderr
        assert "Traceback" not in stderr and "never retrieved" not in stderr and "ignored" not in stderr, stderr
        sent = posts(sandbox)
        assert sent < 12  # it stopped once a transition could not be recorded
        assert run_main(["ledger", "unlock", str(spec), "--yes"], env).returncode == 0  # its lock was left
        final = run_main(["run", str(spec), *FAST_FLAGS, "--resubmit-in-doubt"], env)
        assert final.returncode == 0, final.stderr
        check_outputs(tmp_path / "out", 12)
        with reader(tmp_path / "out", url) as ledger:
            doubted = sum(1 for r in ledger.jobs() for e in ledger.events(r.row) if e.to_state == "in_doubt")
        assert sum(n - 1 for n in sandbox.counters.duplicate_payloads().values()) <= doubted
