"""The question before paying, on a real pseudo-terminal (the stdlib `pty`), against a sandbox that counts
every POST: "yes" pays, "no" and Ctrl-C at the question send nothing; no terminal or --yes: no question."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import fast_sandbox, write_campaign

from photogpt_batch.sandbox import SandboxThread

QUESTION = b"Submit them (each is billed)? [y/N]"


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


def posts(sb: SandboxThread) -> int:
    return sb.counters.requests.get("POST /videos/generation", 0)


class Terminal:
    """``photogpt-batch ARGS`` with stdin, stdout and stderr on a new pseudo-terminal that is its controlling
    terminal (so the terminal's Ctrl-C reaches it as SIGINT, as for a user)."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.master, slave = os.openpty()

        def take_terminal() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen([sys.executable, "-m", "photogpt_batch", *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, preexec_fn=take_terminal, close_fds=True)
        os.close(slave)
        self.seen = b""

    def expect(self, text: bytes, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} not seen within {timeout} s; got {self.seen!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"{text!r} never came; the program ended with {self.seen!r}")
                self.seen += chunk

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def finish(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):
                    self.seen += os.read(self.master, 4096)
        code = self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        os.close(self.master)
        return code


def start(tmp_path: Path, sb: SandboxThread, *extra: str) -> Terminal:
    spec = write_campaign(tmp_path, jobs=3)
    env = {**os.environ, "PHOTOGPT_BASE_URL": sb.base_url, "PHOTOGPT_API_KEY": "test-key", "TERM": "dumb",
           "XDG_STATE_HOME": str(tmp_path / "state")}
    return Terminal(["run", str(spec), *extra], env)


@pytest.mark.slow
def test_yes_at_the_question_pays(tmp_path: Path, sandbox: SandboxThread) -> None:
    term = start(tmp_path, sandbox)
    term.expect(QUESTION)
    assert b"about to submit 3 jobs: 3 new, 0 changed" in term.seen
    assert b"price unknown (0 priced from 0 past jobs, 3 unknown)" in term.seen
    assert posts(sandbox) == 0  # asked before the first POST
    term.send(b"y\r")
    assert term.finish() == 0
    assert posts(sandbox) == 3


@pytest.mark.slow
def test_no_at_the_question_sends_nothing_and_exits_1(tmp_path: Path, sandbox: SandboxThread) -> None:
    term = start(tmp_path, sandbox)
    term.expect(QUESTION)
    term.send(b"n\r")
    assert term.finish() == 1
    assert b"nothing sent (you answered no)" in term.seen
    assert posts(sandbox) == 0


@pytest.mark.slow
def test_ctrl_c_at_the_question_sends_nothing_and_exits_130(tmp_path: Path, sandbox: SandboxThread) -> None:
    term = start(tmp_path, sandbox)
    term.expect(QUESTION)
    term.send(b"\x03")  # the terminal turns it into SIGINT for the foreground process
    assert term.finish() == 130
    assert posts(sandbox) == 0
    assert b"Traceback" not in term.seen


@pytest.mark.slow
def test_yes_flag_skips_the_question_and_the_second_run_has_nothing_to_ask(
        tmp_path: Path, sandbox: SandboxThread) -> None:
    term = start(tmp_path, sandbox, "--yes")
    assert term.finish() == 0
    assert QUESTION not in term.seen and posts(sandbox) == 3
    again = start(tmp_path, sandbox)  # nothing to submit: no question
    assert again.finish() == 0
    assert QUESTION not in again.seen and posts(sandbox) == 3


@pytest.mark.slow
def test_without_a_terminal_there_is_no_question(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    env = {**os.environ, "PHOTOGPT_BASE_URL": sandbox.base_url, "PHOTOGPT_API_KEY": "test-key"}
    done = subprocess.run([sys.executable, "-m", "photogpt_batch", "run", str(spec)], capture_output=True,
                          stdin=subprocess.DEVNULL, env=env, timeout=60)
    assert done.returncode == 0 and b"Submit them" not in done.stderr
    assert posts(sandbox) == 2
