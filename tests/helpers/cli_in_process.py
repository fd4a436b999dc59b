"""``photogpt-batch ARGS`` run in the test's own process, through the console script's ``main()``: the same exit
code, stdout and stderr as ``python -m photogpt_batch ARGS``, without a new interpreter (about half a second of
CPU each: the imports). For tests of what a command prints and returns; a test of a process itself (a signal,
kill -9, the imports a fresh interpreter makes) still starts one."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Mapping

import pytest
from click.testing import CliRunner
from engine_helpers import engine_options

import photogpt_batch.engine
from photogpt_batch.cli import main


def run_main(args: list[str], env: Mapping[str, str] | None = None,
             quick: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``main()`` with ``sys.argv = ["photogpt-batch", *args]``, stdin empty, stdout and stderr captured.

    ``env`` is the environment the command sees, as a process would get it (`subprocess.run`'s ``env``): its
    ``PHOTOGPT_*`` variables replace this process's for the call, and ``os.environ`` is restored after. The
    package logger's handlers and flags, which ``run`` sets for its progress line, and the root logger's, are
    restored too, so that a later test in this worker is not affected.

    ``quick`` (the default): a run polls and prepares downloads at the tests' intervals
    (`engine_helpers.FAST_ENGINE`, then the command's own flags) instead of its defaults (a first poll after 1 s,
    listings 8 s apart), as the library-level tests' runs do against a `fast_sandbox`: what it sends and
    records is the same, sooner. ``quick=False`` keeps the defaults."""
    overrides: dict[str, str | None] = {}
    if env is not None:
        overrides = {name: None for name in os.environ if name.startswith("PHOTOGPT_") and name not in env}
        overrides.update({name: value for name, value in env.items() if os.environ.get(name) != value})
    logger, root = logging.getLogger("photogpt_batch"), logging.getLogger()
    kept = (list(logger.handlers), logger.propagate, logger.level)
    root_kept = (list(root.handlers), root.level)
    # As in a new interpreter: no handler on the root logger, so a warning from any library reaches stderr
    # (logging's last resort) instead of pytest's capture.
    root.handlers[:] = []
    root.setLevel(logging.WARNING)
    argv = sys.argv
    code: int | str | None = 0
    with CliRunner().isolation(env=overrides) as (out, err, _), pytest.MonkeyPatch.context() as patch:
        if quick:
            patch.setattr(photogpt_batch.engine, "EngineOptions", engine_options)
        sys.argv = ["photogpt-batch", *args]
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        finally:
            sys.argv = argv
            logger.handlers[:], logger.propagate = kept[0], kept[1]
            logger.setLevel(kept[2])
            root.handlers[:] = root_kept[0]
            root.setLevel(root_kept[1])
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return subprocess.CompletedProcess(["photogpt-batch", *args], returncode, stdout, stderr)
