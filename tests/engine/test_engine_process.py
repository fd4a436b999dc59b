"""`photogpt-batch run` as a process: killed with SIGKILL and resumed, interrupted with Ctrl-C, exit codes,
and the API key never written anywhere. Where the process itself is not the point (an exit code, what a
command prints), the command runs in the test's process through the console script's `main()` (`run_main`)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_in_process import run_main
from click.testing import CliRunner
from engine_helpers import check_outputs, fast_sandbox, posts, wait_until, write_campaign
from ledger_writes import commit

from photogpt_batch.cli import cli
from photogpt_batch.ledger import JobState, Ledger
from photogpt_batch.sandbox import Faults, SandboxThread

FAST_FLAGS = ["--concurrency", "8", "--rate", "1000", "--quiet"]


def _env(sandbox: SandboxThread, key: str = "test-key") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOGPT_")}
    env.update(PHOTOGPT_BASE_URL=sandbox.base_url, PHOTOGPT_API_KEY=key, PYTHONUNBUFFERED="1")
    return env


def _run(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "photogpt_batch", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def _in_process(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI run in this process (for checks that end before anything runs: no interpreter start-up)."""
    result = CliRunner().invoke(cli, args, env={"PHOTOGPT_API_KEY": None, "PHOTOGPT_BASE_URL": None, **(env or {})})
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_loses_nothing_and_pays_once(tmp_path: Path) -> None:
    rng = random.Random(1234)
    jobs = 24
    spec = write_campaign(tmp_path, jobs=jobs)
    with SandboxThread(fast_sandbox(generation_seconds=(0.05, 0.4))) as sandbox:
        env = _env(sandbox)
        for _ in range(5):
            proc = subprocess.Popen([sys.executable, "-m", "photogpt_batch", "run", str(spec), *FAST_FLAGS],
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seen = sum(sandbox.counters.requests.values())
            target = seen + rng.randint(2, 40)

            # Kill once the process has made some progress on the wire (or finished on its own).
            def progressed(p: subprocess.Popen[bytes] = proc, t: int = target) -> bool:
                return p.poll() is not None or sum(sandbox.counters.requests.values()) >= t

            wait_until(progressed)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        final = _run(["run", str(spec), *FAST_FLAGS, "--resubmit-in-doubt"], env)
        assert final.returncode == 0, final.stderr
        check_outputs(tmp_path / "out", jobs)
        with Ledger.open_for_reading(tmp_path / "out") as ledger:
            assert all(r.state == JobState.SUCCEEDED for r in ledger.jobs())
            doubted = sum(1 for r in ledger.jobs() for e in ledger.events(r.row) if e.to_state == "in_doubt")
        # Only a submission the kill left in doubt, resubmitted on request, may exist twice on the server.
        duplicates = sum(n - 1 for n in sandbox.counters.duplicate_payloads().values())
        assert duplicates <= doubted
        assert posts(sandbox) <= jobs + doubted


@pytest.mark.slow
def test_a_kill_while_submissions_wait_for_the_rate_limit_leaves_them_unsent_not_in_doubt(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=4)
    with SandboxThread(fast_sandbox(generation_seconds=(5.0, 5.0))) as sandbox:
        # One request every 2 s: after the first POST, three submissions wait for the limiter.
        proc = subprocess.Popen([sys.executable, "-m", "photogpt_batch", "run", str(spec), "--rate", "0.5",
                                 "--quiet"], env=_env(sandbox), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: posts(sandbox) >= 1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        sent = posts(sandbox)
    with Ledger.open_for_reading(tmp_path / "out") as ledger:
        attempted = [r for r in ledger.jobs() if r.attempts]
    # Only a POST that went out has its intent recorded: the waiting ones are provably unsent.
    assert len(attempted) == sent < 4


@pytest.mark.slow
def test_a_rerun_without_the_flag_never_resubmits_what_a_kill_left_in_doubt(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    with SandboxThread(fast_sandbox()) as sandbox:
        # Record the intent as a killed run would leave it: submitting, never confirmed.
        from photogpt_batch.spec.load import load_campaign

        with Ledger.open_for_run(tmp_path / "out") as ledger:
            rows = ledger.register(load_campaign(spec).jobs)
            from photogpt_batch.ledger import JobTransition

            commit(ledger, JobTransition(rows["clip-1"], JobState.SUBMITTING))
        result = _run(["run", str(spec), *FAST_FLAGS], _env(sandbox))
        assert result.returncode == 1
        assert "in doubt" in result.stderr and "--resubmit-in-doubt" in result.stderr
        assert posts(sandbox) == 0


@pytest.mark.slow
def test_ctrl_c_stops_records_and_exits_130_with_the_resume_command(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=12)
    with SandboxThread(fast_sandbox(generation_seconds=(1.0, 2.0))) as sandbox:
        env = _env(sandbox)
        proc = subprocess.Popen([sys.executable, "-m", "photogpt_batch", "run", str(spec), "--concurrency", "4",
                                 "--rate", "1000", "--quiet"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        wait_until(lambda: posts(sandbox) >= 4)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert "Resume with: photogpt-batch run" in stderr
        assert "Traceback" not in stderr
        sent = posts(sandbox)
        assert sent < 12  # new submissions stopped
        with Ledger.open_for_reading(tmp_path / "out") as ledger:
            submitted = [r for r in ledger.jobs() if r.remote_id]
        assert len(submitted) == sent  # every POST that went out has its jobId recorded
        final = _run(["run", str(spec), *FAST_FLAGS], env)
        assert final.returncode == 0, final.stderr
        assert posts(sandbox) == 12
        check_outputs(tmp_path / "out", 12)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_a_lost_terminal_stop_cleanly_like_ctrl_c(tmp_path: Path, sig: signal.Signals) -> None:
    spec = write_campaign(tmp_path, jobs=6)
    with SandboxThread(fast_sandbox(generation_seconds=(1.0, 2.0))) as sandbox:
        proc = subprocess.Popen([sys.executable, "-m", "photogpt_batch", "run", str(spec), "--concurrency", "2",
                                 "--rate", "1000", "--quiet"], env=_env(sandbox), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        wait_until(lambda: posts(sandbox) >= 2)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert "Resume with: photogpt-batch run" in stderr
        with Ledger.open_for_reading(tmp_path / "out") as ledger:
            assert len([r for r in ledger.jobs() if r.remote_id]) == posts(sandbox)  # every jobId recorded


@pytest.mark.slow
def test_ctrl_c_while_a_submission_waits_out_a_429_sends_nothing_more(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    faults = Faults(rate_limit_nth=(1,), rate_limit_routes=("POST /videos/generation",), retry_after_seconds=120)
    with SandboxThread(fast_sandbox(faults=faults)) as sandbox:
        env = _env(sandbox)
        proc = subprocess.Popen([sys.executable, "-m", "photogpt_batch", "run", str(spec), *FAST_FLAGS], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: sandbox.counters.faults["rate_limit"] >= 1)
        proc.send_signal(signal.SIGINT)
        # Without a prompt stop, the client would sit out the 120 s Retry-After and then POST.
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert posts(sandbox) == 1 and sandbox.counters.jobs_created == 0
        with Ledger.open_for_reading(tmp_path / "out") as ledger:
            assert [r.state for r in ledger.jobs()] == [JobState.PLANNED]  # provably unsent: free to send later


@pytest.mark.slow
def test_a_second_ctrl_c_stops_at_once_exits_130_and_the_cut_submission_is_in_doubt(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    # The POST's answer takes a minute: the first Ctrl-C waits for it, the second does not.
    faults = Faults(slow_nth=(1,), slow_routes=("POST /videos/generation",), slow_seconds=60)
    errors = tmp_path / "stderr.txt"
    with SandboxThread(fast_sandbox(faults=faults)) as sandbox, open(errors, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "photogpt_batch", "run", str(spec), "--rate", "1000"],
                                env=_env(sandbox), stdout=subprocess.DEVNULL, stderr=err)
        wait_until(lambda: posts(sandbox) >= 1)
        proc.send_signal(signal.SIGINT)
        wait_until(lambda: "waiting for the answer to 1 submission" in errors.read_text())
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    stderr = errors.read_text()
    assert proc.returncode == 130, stderr
    assert "Resume with: photogpt-batch run" in stderr and "Traceback" not in stderr and "Aborted" not in stderr
    with Ledger.open_for_reading(tmp_path / "out") as ledger:
        # Its intent is recorded and its outcome unknown: the next run holds it in doubt, not sends it again.
        assert [r.state for r in ledger.jobs()] == [JobState.SUBMITTING]


@pytest.mark.parametrize("key", ["sk-abc\ndef", "sk-abc\rdef", "sk-abc\tdef", "sk-abcdé"])
def test_a_key_an_http_header_cannot_carry_is_a_configuration_error(tmp_path: Path, key: str) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    result = _in_process(["run", str(spec), "--quiet"],
                         {"PHOTOGPT_API_KEY": key, "PHOTOGPT_BASE_URL": "http://127.0.0.1:9/api"})
    assert result.returncode == 2, result.stderr
    assert "PHOTOGPT_API_KEY contains control or non-ASCII characters" in result.stderr
    assert "abc" not in result.stderr + result.stdout and "Traceback" not in result.stderr


@pytest.mark.parametrize("args, says", [
    (["--rate", "nan"], "not a number of requests per second"),
    (["--rate", "0"], "0.1"),
    (["--output", ""], "is empty"),
    (["--concurrency", "0"], "1"),
    (["--output", "x" * 300], "cannot be a folder"),
])
def test_bad_options_exit_2_before_anything_runs(tmp_path: Path, args: list[str], says: str) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    result = _in_process(["run", str(spec), "--sandbox", *args])
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["run", "plan", "status"])
def test_an_output_path_that_is_a_file_exits_2(tmp_path: Path, command: str) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    (tmp_path / "out").write_text("a file, not a folder")
    result = _in_process([command, str(spec), *(["--sandbox"] if command == "run" else [])])
    assert result.returncode == 2, result.stderr
    assert "is not a folder" in result.stderr
    assert (tmp_path / "out").read_text() == "a file, not a folder"


def test_a_base_url_that_is_not_http_is_a_configuration_error(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOGPT_")}
    env.update(PHOTOGPT_API_KEY="test-key", PHOTOGPT_BASE_URL="ftp://example.com/api")
    result = run_main(["run", str(spec), "--quiet"], env)
    assert result.returncode == 2, result.stderr
    assert "PHOTOGPT_BASE_URL" in result.stderr and "http(s)" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_api_key_is_never_written_to_disk_or_printed(tmp_path: Path) -> None:
    key = "sk-live-DISTINCTIVE-7f3a9c"
    spec = write_campaign(tmp_path, jobs=3)
    with SandboxThread(fast_sandbox()) as sandbox:
        result = run_main(["run", str(spec), "--concurrency", "8", "--rate", "1000"], _env(sandbox, key))
        status = run_main(["status", str(spec), "--json"], _env(sandbox, key))
        assert result.returncode == 0, result.stderr
        assert sandbox.counters.credentialed_file_requests == 0
    for text in (result.stdout, result.stderr, status.stdout, status.stderr):
        assert key not in text
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "ledger.sqlite3" for p in written)
    for path in written:
        assert key.encode() not in path.read_bytes(), path


def test_run_without_a_key_exits_2_and_sends_nothing(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOGPT_")}
    env["PHOTOGPT_BASE_URL"] = "http://127.0.0.1:9/api"
    result = run_main(["run", str(spec)], env)
    assert result.returncode == 2
    assert "PHOTOGPT_API_KEY" in result.stderr and "Traceback" not in result.stderr
    as_json = run_main(["run", str(spec), "--json"], env)  # a script that asked for JSON gets JSON
    assert as_json.returncode == 2
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and "PHOTOGPT_API_KEY" in report["error"]


def test_run_of_an_invalid_spec_exits_2_with_located_errors(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("version: 1\ncampaign: x\njobs:\n  - id: a\n    model: veo-3.1\n    prompt: p\n"
                    "    options: {duration: 5}\n")
    result = run_main(["run", str(spec), "--sandbox"], dict(os.environ))
    assert result.returncode == 2
    assert f"{spec}:7:" in result.stderr and "5 is not one of 4, 6, 8" in result.stderr


def test_status_json_reports_counts_remote_ids_and_files(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=2, num_videos=2)
    with SandboxThread(fast_sandbox()) as sandbox:
        assert run_main(["run", str(spec), *FAST_FLAGS], _env(sandbox)).returncode == 0
    result = run_main(["status", str(spec), "--json"], dict(os.environ))
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["complete"] is True
    assert report["counts"] == {"done": 2}
    assert report["videos"] == {"downloaded": 4}
    job = report["jobs"][0]
    assert job["jobId"] and [v["path"] for v in job["videos"]] == ["clip-1/1.mp4", "clip-1/2.mp4"]


def test_status_before_any_run_shows_new_jobs_and_exit_1(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    result = run_main(["status", str(spec)], dict(os.environ))
    assert result.returncode == 1
    assert "new" in result.stdout
    assert not (tmp_path / "out").exists()  # reading creates nothing


@pytest.mark.parametrize("command", ["plan", "status"])
def test_a_corrupt_ledger_is_a_clear_error_for_readers(tmp_path: Path, command: str) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    ledger_file = tmp_path / "out" / ".photogpt-batch" / "ledger.sqlite3"
    ledger_file.parent.mkdir(parents=True)
    ledger_file.write_bytes(b"\x00" * 100)
    result = run_main([command, str(spec)], dict(os.environ))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "ledger" in result.stderr


@pytest.mark.slow
def test_an_interrupted_sandbox_run_resumes_where_it_stood(tmp_path: Path) -> None:
    # run --sandbox keeps its sandbox's jobs beside the ledger, so jobs left in flight are still known.
    spec = write_campaign(tmp_path, jobs=8)
    proc = subprocess.Popen([sys.executable, "-m", "photogpt_batch", "run", str(spec), "--sandbox",
                             "--concurrency", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # plain progress lines: stderr is not a terminal
        if "submitted" in line:
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode in (0, 130)
    result = run_main(["run", str(spec), "--sandbox", "--quiet"])  # the resume: in this process
    assert result.returncode == 0, result.stderr
    assert "does not know job" not in result.stderr
    check_outputs(tmp_path / "out", 8)


@pytest.mark.slow
def test_output_to_a_stream_that_cannot_encode_the_prompts_is_escaped_not_a_crash(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    spec.write_text(spec.read_text().replace("shot number", "café — 夜 shot"), encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}  # as on a terminal that is not UTF-8
    as_json = _run(["plan", str(spec), "--json"], env)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["jobs"][0]["request"]["prompt"] == "café — 夜 shot 1"
    ids = _run(["status", str(spec), "--json"], env)
    assert ids.returncode == 1 and json.loads(ids.stdout)["counts"] == {"new": 1}
