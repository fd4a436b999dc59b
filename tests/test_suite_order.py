"""The order tests/conftest.py gives the suite: the slow tests first, then the long ones among the others (the
property tests and `LONG_IN_PROCESS`), then the rest, so that no long test starts last on a worker and ends
the run alone (`pytest` and `pytest -m "not slow"` alike)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
#: Modules with tests of each kind: slow ones (processes), property tests, a listed long one, quick ones.
MODULES = ["tests/engine/test_spend.py", "tests/spec/test_spec_fastpath.py", "tests/test_jsonstream.py"]


def collected(*options: str) -> list[str]:
    """The node ids pytest collects from `MODULES` with ``options``, in the order it would run them."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-o", "addopts=", "-p",
                           "no:randomly", *options, *MODULES], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if "::" in line]


def kind(nodeid: str) -> int:
    if nodeid.startswith(("tests/spec/test_spec_fastpath.py::test_generated", "tests/test_jsonstream.py::test_streamed",
                          "tests/spec/test_spec_fastpath.py::test_nesting")):
        return 1
    return 2


@pytest.mark.slow
def test_slow_tests_start_first_then_the_long_ones_then_the_rest() -> None:
    every = collected()
    slow = set(collected("-m", "slow"))
    assert slow and len(slow) < len(every)
    assert every[:len(slow)] == [n for n in every if n in slow]  # the slow ones first, in their own order
    quick = every[len(slow):]
    assert [kind(n) for n in quick] == sorted(kind(n) for n in quick)
    assert [kind(n) for n in quick].count(1) == 3
    assert collected("-m", "not slow") == quick
