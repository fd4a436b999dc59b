"""One campaign, one ledger: after ``ledger push`` (or ``pull``) the source refuses runs, naming the ledger to
use; and on the shared ledger a folder belongs to one campaign and is locked while a run writes into it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_in_process import run_main
from engine_helpers import fast_sandbox, posts, wait_until, write_campaign
from pg_server import PASSWORD, Cluster
from test_stores_engine import env_for

from photogpt_batch.ledger import redact
from photogpt_batch.sandbox import SandboxThread

# A PostgreSQL cluster (initdb, pg_ctl), and a run in a process of its own while another command is refused.
# The other commands run in this process (run_main): what they print and return is the point, not the process.
pytestmark = pytest.mark.slow

FAST = ["--rate", "1000", "--quiet"]


def test_a_pushed_folder_ledger_refuses_runs_and_names_the_shared_ledger(tmp_path: Path,
                                                                         pg_cluster: Cluster) -> None:
    pg_url, elsewhere = (pg_cluster.url(pg_cluster.new_database()) for _ in range(2))
    spec = write_campaign(tmp_path, jobs=3)
    with SandboxThread(fast_sandbox()) as sandbox:
        env = env_for(sandbox, None)
        assert run_main(["run", str(spec), *FAST], env).returncode == 0
        pushed = run_main(["ledger", "push", str(spec), "--ledger", pg_url], env)
        assert pushed.returncode == 0, pushed.stderr
        spec.write_text(spec.read_text().replace("shot number", "take number"))  # three new jobs to pay for
        refused = run_main(["run", str(spec), *FAST], env)
        assert refused.returncode == 2, refused.stderr
        assert f"--ledger {redact(pg_url)}" in refused.stderr and "Nothing was sent" in refused.stderr
        assert PASSWORD not in refused.stderr and posts(sandbox) == 3
        # A second push elsewhere would make two ledgers of one campaign: refused too.
        other = run_main(["ledger", "push", str(spec), "--ledger", elsewhere], env)
        assert other.returncode == 2 and "moved to" in other.stderr, other.stderr
        # The shared ledger carries the campaign on.
        shared = run_main(["run", str(spec), *FAST, "--ledger", pg_url], env)
        assert shared.returncode == 0, shared.stderr
        assert posts(sandbox) == 6


def test_a_pulled_shared_campaign_refuses_runs_and_names_the_folder(tmp_path: Path, pg_url: str) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    archive = tmp_path / "archive"
    with SandboxThread(fast_sandbox()) as sandbox:
        env = env_for(sandbox, pg_url)
        assert run_main(["run", str(spec), *FAST], env).returncode == 0
        pulled = run_main(["ledger", "pull", str(spec), "--output", str(archive)], env)
        assert pulled.returncode == 0, pulled.stderr
        refused = run_main(["run", str(spec), *FAST, "--output", str(tmp_path / "ci")], env)
        assert refused.returncode == 2 and f"--output {archive}" in refused.stderr, refused.stderr
        assert PASSWORD not in refused.stderr
        env_local = env_for(sandbox, None)
        # Pushing the same content back (no run in between) moves the campaign back: the shared ledger runs it
        # again, the folder's ledger is refused in its turn.
        back = run_main(["ledger", "push", str(spec), "--output", str(archive)], env)
        assert back.returncode == 0, back.stderr
        assert run_main(["run", str(spec), *FAST, "--output", str(tmp_path / "ci")], env).returncode == 0
        assert run_main(["run", str(spec), *FAST, "--output", str(archive)], env_local).returncode == 2
        assert posts(sandbox) == 2


def test_two_campaigns_into_one_folder_on_the_shared_ledger_are_refused(tmp_path: Path, pg_url: str) -> None:
    first = write_campaign(tmp_path, jobs=2, name="a")
    second = write_campaign(tmp_path, jobs=2, name="b")  # same output folder, same job ids
    with SandboxThread(fast_sandbox()) as sandbox:
        env = env_for(sandbox, pg_url)
        assert run_main(["run", str(first), *FAST], env).returncode == 0
        (tmp_path / "out" / "manifest.jsonl").unlink()  # the manifest alone must not be what protects the folder
        refused = run_main(["run", str(second), *FAST], env)
        assert refused.returncode == 2 and "belongs to campaign 'a', not 'b'" in refused.stderr, refused.stderr
        assert posts(sandbox) == 2


def test_a_run_of_another_campaign_into_a_folder_being_written_is_refused(tmp_path: Path,
                                                                         pg_cluster: Cluster) -> None:
    url = pg_cluster.url(pg_cluster.new_database())
    first = write_campaign(tmp_path, jobs=6, name="a")
    second = write_campaign(tmp_path, jobs=2, name="b")
    with SandboxThread(fast_sandbox(generation_seconds=(1.0, 2.0))) as sandbox:
        env = env_for(sandbox, url)
        running = subprocess.Popen([sys.executable, "-m", "photogpt_batch", "run", str(first), *FAST], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: posts(sandbox) >= 2)
            refused = run_main(["run", str(second), *FAST], env)
            assert refused.returncode == 2, refused.stderr
            assert "is in use by another photogpt-batch run" in refused.stderr and str(running.pid) in refused.stderr
            _, err = running.communicate(timeout=60)
            assert running.returncode == 0, err
        finally:
            running.kill()
            running.wait(timeout=10)
        assert posts(sandbox) == 6  # campaign b sent nothing
