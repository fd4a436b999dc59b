"""In-doubt submissions are judged on the server's clock, whichever machine recorded them: a runner whose clock
is 400 s slow records a lost POST, and a runner with a correct clock must not "prove" it created nothing and pay
for it again. On both stores, with the CLI in processes of their own (the slow one under libfaketime) and the
sandbox, like a real server, on the true clock in this process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_helpers import fast_sandbox, load, posts, write_campaign
from ledger_writes import commit
from slow_clock import needs_faketime, slow_clock_env
from test_stores_engine import cli, config, env_for, reader

from photogpt_batch.ledger import JobState, JobTransition, Ledger
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import Faults, SandboxThread

# A PostgreSQL cluster for half of them, and the CLI in processes of its own.
pytestmark = pytest.mark.slow

SLOW = 400.0  # seconds: more than the settling window's margin (CLOCK_MARGIN, 300 s)
RUN = ["--concurrency", "4", "--rate", "1000", "--quiet"]


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` for the folder's SQLite ledger, else a URL to a fresh shared database."""
    if request.param == "sqlite":
        return None
    cluster = request.getfixturevalue("pg_cluster")
    return str(cluster.url(cluster.new_database()))


def slow_run(spec: Path, output: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``photogpt-batch run`` on a machine whose clock is `SLOW` seconds behind."""
    return subprocess.run([sys.executable, "-m", "photogpt_batch", "run", str(spec), "--output", str(output), *RUN],
                          env=slow_clock_env(env, SLOW), capture_output=True, text=True, timeout=90)


def in_doubt(output: Path, url: str | None) -> list[str]:
    with reader(output, url) as ledger:
        return [r.job_id for r in ledger.jobs() if r.state == JobState.IN_DOUBT]


def lag(output: Path, url: str | None) -> float:
    """How far behind the true time the ledger's latest event was recorded (a slow clock's events lag)."""
    with reader(output, url) as ledger:
        return time.time() - max(e.at for r in ledger.jobs() for e in ledger.events(r.row))


@needs_faketime
def test_a_lost_post_recorded_by_a_slow_clock_is_not_paid_again_by_a_correct_one(
        tmp_path: Path, ledger_url: str | None) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    first_out = tmp_path / "out"
    # The shared ledger: the second runner is another machine, with a folder of its own.
    second_out = first_out if ledger_url is None else tmp_path / "machine-2"
    with SandboxThread(fast_sandbox(faults=Faults(lost_post_nth=(1,), lost_post_mode="drop"))) as sandbox:
        env = env_for(sandbox, ledger_url)
        first = slow_run(spec, first_out, env)
        assert first.returncode == 1 and "in doubt" in first.stderr, first.stderr
        assert sandbox.counters.jobs_created == 2 and posts(sandbox) == 2  # the lost POST created its job
        (doubted,) = in_doubt(first_out, ledger_url)
        assert SLOW - 30 < lag(first_out, ledger_url) < SLOW + 30  # recorded on the slow clock

        # A correct clock, at once: the doubt is seconds old on the server's clock, not 400 s.
        second = cli(["run", str(spec), "--output", str(second_out), *RUN], env)
        assert second.returncode == 1 and "in doubt" in second.stderr, second.stderr
        assert posts(sandbox) == 2 and not sandbox.counters.duplicate_payloads()
        # And judged at once (no settling delay): the job created by the lost POST falls inside its span.
        summary = run_campaign(load(spec), config(sandbox, ledger_url, in_doubt_settle_seconds=0))
        assert summary.in_doubt == [doubted]
        assert posts(sandbox) == 2 and not sandbox.counters.duplicate_payloads()


@needs_faketime
def test_a_post_that_created_nothing_recorded_by_a_slow_clock_is_still_settled(tmp_path: Path) -> None:
    # The proof still works across clocks: the 500 created nothing, and a correct runner sends the job once.
    spec = write_campaign(tmp_path, jobs=2)
    faults = Faults(server_error_nth=(1,), server_error_routes=("POST /videos/generation",))
    with SandboxThread(fast_sandbox(faults=faults)) as sandbox:
        first = slow_run(spec, tmp_path / "out", env_for(sandbox, None))
        assert first.returncode == 1 and "in doubt" in first.stderr, first.stderr
        summary = run_campaign(load(spec), config(sandbox, None, in_doubt_settle_seconds=0))
        assert summary.complete
        assert sandbox.counters.jobs_created == 2 and not sandbox.counters.duplicate_payloads()


def test_an_in_doubt_submission_whose_clock_offset_is_unknown_is_never_settled(
        tmp_path: Path, ledger_url: str | None) -> None:
    # Events written outside a run (as by a version that kept no offsets: a migrated ledger's) have no clock
    # offset. The POST "never reached the server" and the doubt is long past the settling delay, yet only the
    # user may decide: the time it was recorded at cannot be put on the server's clock.
    spec = write_campaign(tmp_path, jobs=1)
    job = load(spec).jobs[0]
    with Ledger.open_for_run(tmp_path / "out", url=ledger_url, campaign="t") as ledger:
        row = ledger.register([job])[job.id]
        commit(ledger, JobTransition(row, JobState.SUBMITTING))
        commit(ledger, JobTransition(row, JobState.IN_DOUBT, error="the answer was lost"))
    with SandboxThread(fast_sandbox()) as sandbox:
        summary = run_campaign(load(spec), config(sandbox, ledger_url, in_doubt_settle_seconds=0))
        assert summary.in_doubt == [job.id]
        assert posts(sandbox) == 0
