"""The resume command works as printed, and progress starts where things stand."""

from __future__ import annotations

import io
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_in_process import run_main
from engine_helpers import check_outputs, fast_sandbox, load, run_config, write_campaign

from photogpt_batch.cli.run import resume_command, run
from photogpt_batch.engine import RunSummary
from photogpt_batch.engine.progress import Progress
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread
from photogpt_batch.views.run_render import print_summary


def _resume(*args: str) -> list[str]:
    with run.make_context("run", list(args)) as ctx:
        return resume_command(ctx)


def test_the_resume_command_repeats_every_option_given_but_the_one_time_decisions_to_pay_again() -> None:
    words = _resume("my spec.yaml", "--sandbox", "--output", "other place", "--concurrency", "2",
                    "--downloads", "3", "--rate", "5", "--only", "social-*", "--only", "ratio=9:16", "--no-verify",
                    "--fresh", "--retry-failed", "--resubmit-in-doubt")
    assert words == ["photogpt-batch", "run", "my spec.yaml", "--output", "other place", "--only", "social-*",
                     "--only", "ratio=9:16", "--concurrency", "2", "--downloads", "3", "--rate", "5.0",
                     "--sandbox", "--no-verify"]
    assert _resume("t.yaml") == ["photogpt-batch", "run", "t.yaml"]


def test_the_summary_quotes_the_resume_command_for_the_shell(tmp_path: Path, capsys) -> None:
    campaign = load(write_campaign(tmp_path, jobs=1))
    print_summary(campaign, RunSummary(jobs=1, interrupted=True), _resume("a b.yaml", "--only", "clip-*"))
    assert "Resume with: photogpt-batch run 'a b.yaml' --only 'clip-*'" in capsys.readouterr().err


@pytest.mark.slow
def test_the_command_printed_after_ctrl_c_resumes_the_run_as_printed(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=8)
    out = tmp_path / "rehearsal"
    args = ["run", str(spec), "--sandbox", "--output", str(out), "--concurrency", "2", "--downloads", "1",
            "--rate", "1000", "--only", "clip-*", "--retry-failed"]
    proc = subprocess.Popen([sys.executable, "-m", "photogpt_batch", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # plain progress lines: stderr is not a terminal
        if "submitted" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 130, rest
    printed = rest.split("Resume with: ", 1)[1].strip()
    words = shlex.split(printed)
    assert words[:2] == ["photogpt-batch", "run"] and "--retry-failed" not in words
    assert {"--sandbox", "--output", str(out), "--concurrency", "--downloads", "--rate", "--only"} <= set(words)
    # Run exactly what was printed (the sandbox: without --sandbox it would ask for a key).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOGPT_")}
    resumed = run_main(words[1:], env)  # in this process: the interrupted one was the process to test
    assert resumed.returncode == 0, resumed.stderr
    check_outputs(out, 8)


@pytest.fixture
def sandbox():
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_finished_rerun_shows_every_video_on_disk(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=3)
    run_campaign(load(spec), run_config(sandbox))
    screen = Terminal()
    progress = Progress(3, stream=screen)
    run_campaign(load(spec), run_config(sandbox), progress)
    progress.close()
    assert "3/3" in screen.getvalue() and "0/3" not in screen.getvalue()


def test_a_resumed_run_starts_at_the_videos_on_disk_and_ends_at_the_total(tmp_path: Path,
                                                                         sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=3)
    run_campaign(load(spec), run_config(sandbox))
    (tmp_path / "out" / "clip-2" / "1.mp4").unlink()  # one video to fetch again
    screen = Terminal()
    progress = Progress(3, stream=screen)
    assert run_campaign(load(spec), run_config(sandbox), progress).complete
    progress.close()
    shown = screen.getvalue()
    assert "2/3" in shown and shown.rstrip().split("\r")[-1].lstrip().startswith("downloaded: 100%")
    assert "0/3" not in shown and "1/3" not in shown


def test_without_a_terminal_the_start_is_one_line(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    run_campaign(load(spec), run_config(sandbox))
    log = io.StringIO()
    run_campaign(load(spec), run_config(sandbox), Progress(2, stream=log))
    assert "already on disk: 2/2 videos" in log.getvalue()


def test_the_summary_says_generated_for_jobs_and_downloaded_for_files(tmp_path: Path, capsys) -> None:
    campaign = load(write_campaign(tmp_path, jobs=2))
    summary = RunSummary(jobs=2, succeeded=2, videos_expected=3, videos_downloaded=1)
    print_summary(campaign, summary, ["photogpt-batch", "run", "t.yaml"])
    first = capsys.readouterr().err.splitlines()[0]
    assert first == f"t: 2/2 jobs generated, 1/3 videos downloaded to {campaign.output}"
