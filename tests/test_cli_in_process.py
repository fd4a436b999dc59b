"""`cli_in_process.run_main`, the tests' way to run a command without a new interpreter: it returns what a process
would (exit code, stdout, stderr, the environment it was given) and leaves this process as it found it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cli_in_process import run_main
from engine_helpers import fast_sandbox, write_campaign

from photogpt_batch.sandbox import SandboxThread


def test_exit_codes_and_the_two_streams_are_the_commands(tmp_path: Path) -> None:
    done = run_main(["validate", str(tmp_path / "missing.yaml")])
    assert done.returncode == 2 and done.stderr == ""
    assert "missing.yaml:1:1: error: cannot read the file" in done.stdout
    usage = run_main(["validate"])
    assert usage.returncode == 2 and usage.stdout == "" and "Missing argument" in usage.stderr


def test_a_run_sees_the_given_environment_and_leaves_the_process_as_it_was(tmp_path: Path) -> None:
    package, root = logging.getLogger("photogpt_batch"), logging.getLogger()
    before = (list(package.handlers), package.propagate, list(root.handlers), root.level, dict(os.environ))
    spec = write_campaign(tmp_path, jobs=2)
    with SandboxThread(fast_sandbox()) as sandbox:
        env = {**os.environ, "PHOTOGPT_BASE_URL": sandbox.base_url, "PHOTOGPT_API_KEY": "test-key"}
        done = run_main(["run", str(spec), "--rate", "1000", "--quiet"], env)
        assert done.returncode == 0, done.stderr
        assert sandbox.counters.requests.get("POST /videos/generation") == 2
        refused = run_main(["run", str(spec), "--quiet"], {**env, "PHOTOGPT_API_KEY": ""})
        assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert (list(package.handlers), package.propagate, list(root.handlers), root.level, dict(os.environ)) == before
