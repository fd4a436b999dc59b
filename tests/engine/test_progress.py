"""Progress on a stream that breaks or was never there: the view goes silent, the run and its counts go on."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import check_outputs, fast_sandbox, write_campaign

from photogpt_batch.engine.progress import Progress
from photogpt_batch.sandbox import SandboxThread

KINDS = ["submitted", "generating", "generated", "downloaded", "failed", "in_doubt", "video_failed"]


class BreaksAfter(io.StringIO):
    """A stream whose writes fail with BrokenPipeError (a reader that went away) after ``lines`` newlines."""

    def __init__(self, lines: int, tty: bool = False) -> None:
        super().__init__()
        self.lines = lines
        self.tty = tty
        self.failed_writes = 0

    def write(self, text: str) -> int:
        if self.getvalue().count("\n") >= self.lines:
            self.failed_writes += 1
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)

    def isatty(self) -> bool:
        return self.tty


def _drive(progress: Progress, rounds: int = 5) -> None:
    """Every kind of output Progress makes: events of each kind, notes, a logged warning, then close."""
    logger = logging.getLogger("photogpt_batch.test_progress")
    handler = progress.log_handler()
    logger.addHandler(handler)
    try:
        for n in range(rounds):
            for kind in KINDS:
                progress.event(kind, f"job-{n}", "some detail")
            progress.note(f"a note {n}")
            logger.warning("a warning %d", n)
    finally:
        logger.removeHandler(handler)
    progress.close()


def _assert_counted(progress: Progress, rounds: int = 5) -> None:
    assert progress.counts == {kind: rounds for kind in KINDS}


def test_plain_lines_stop_at_a_broken_pipe_and_events_are_still_counted() -> None:
    stream = BreaksAfter(lines=3)
    progress = Progress(10, stream=stream)
    _drive(progress)
    _assert_counted(progress)
    assert progress.broken
    assert stream.getvalue().count("\n") == 3
    # Silenced for good: one failed write, not one per event.
    assert stream.failed_writes == 1


def test_the_bar_stops_at_a_broken_pipe_without_raising() -> None:
    # A terminal that goes away mid-run (a closed ssh session): tqdm's own refreshes, writes and close.
    stream = BreaksAfter(lines=2, tty=True)
    progress = Progress(10, stream=stream)
    assert progress.interactive
    _drive(progress)
    _assert_counted(progress)
    assert progress.broken
    assert stream.failed_writes == 1


@pytest.mark.parametrize("interactive", [None, False, True])
def test_a_closed_stream_is_not_an_error(interactive: bool | None) -> None:
    stream = io.StringIO()
    stream.close()
    progress = Progress(10, stream=stream, interactive=interactive)
    _drive(progress)
    _assert_counted(progress)
    assert progress.broken


def test_no_stderr_at_all_means_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    # What Python sets when the process starts with file descriptor 2 closed.
    monkeypatch.setattr(sys, "stderr", None)
    for quiet in (False, True):
        progress = Progress(10, quiet=quiet)
        assert progress.quiet
        _drive(progress)
        _assert_counted(progress)


def _env(sandbox: SandboxThread) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOGPT_")}
    return {**env, "PHOTOGPT_BASE_URL": sandbox.base_url, "PHOTOGPT_API_KEY": "test-key"}


@pytest.mark.slow
def test_run_with_stderr_closed_finishes_and_saves_the_videos(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    # `2>&-`: the child starts without a file descriptor 2, so its sys.stderr is None.
    with SandboxThread(fast_sandbox()) as sandbox:
        result = subprocess.run(
            [sys.executable, "-m", "photogpt_batch", "run", str(spec), "--quiet", "--rate", "1000"],
            env=_env(sandbox), stdout=subprocess.PIPE, text=True, timeout=60, preexec_fn=lambda: os.close(2),
        )
    assert result.returncode == 0, result.stdout
    check_outputs(tmp_path / "out", 2)


@pytest.mark.slow
def test_run_with_stderr_a_broken_pipe_still_saves_every_video(tmp_path: Path) -> None:
    # `run ... 2>&1 >summary.txt | head -1` once head has gone: every write to stderr fails with EPIPE.
    spec = write_campaign(tmp_path, jobs=3)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        with SandboxThread(fast_sandbox()) as sandbox:
            result = subprocess.run(
                [sys.executable, "-m", "photogpt_batch", "run", str(spec), "--rate", "1000"],
                env=_env(sandbox), stdout=subprocess.DEVNULL, stderr=write_end, timeout=60,
            )
    finally:
        os.close(write_end)
    assert result.returncode == 0  # the closing summary cannot be shown either; the exit code still tells
    check_outputs(tmp_path / "out", 3)
