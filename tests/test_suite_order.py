"""How tests/conftest.py spreads the suite over xdist's workers: the modules of `XDIST_GROUPS` each on one worker,
and the slow tests first, then the long ones among the others (the property tests and `LONG_IN_PROCESS`), then
the rest, so that no long test starts last on a worker and ends the run alone (`pytest` and
`pytest -m "not slow"` alike)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from xdist.remote import Producer  # type: ignore[import-untyped]  # pytest-xdist has no py.typed

ROOT = Path(__file__).parents[1]
#: Modules with tests of each kind: slow ones (processes), property tests, a listed long one, quick ones.
MODULES = ["tests/engine/test_spend.py", "tests/spec/test_spec_fastpath.py", "tests/engine/test_fetch.py"]


def collected(*options: str) -> list[str]:
    """The node ids pytest collects from `MODULES` with ``options``, in the order it would run them."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-o", "addopts=", "-p",
                           "no:randomly", *options, *MODULES], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if "::" in line]


def kind(nodeid: str) -> int:
    if nodeid.startswith(("tests/spec/test_spec_fastpath.py::test_generated",
                          "tests/spec/test_spec_fastpath.py::test_nesting",
                          "tests/engine/test_fetch.py::test_safe_component_is_always",
                          "tests/engine/test_fetch.py::test_safe_component_keeps")):
        return 1
    return 2


@pytest.mark.slow
def test_slow_tests_start_first_then_the_long_ones_then_the_rest() -> None:
    every, quick = collected(), collected("-m", "not slow")
    slow = [n for n in every if n not in quick]
    assert slow and quick
    assert every == slow + quick  # the slow ones first; the quick ones in the order `-m "not slow"` runs them
    assert [kind(n) for n in quick] == sorted(kind(n) for n in quick)
    # the longest property test and the deep nesting are slow themselves; the short property tests stay quick
    assert [kind(n) for n in quick].count(1) == 2 and [kind(n) for n in slow].count(1) == 2


def test_each_group_is_one_unit_of_work_and_every_other_test_its_own(pytestconfig: pytest.Config,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The scheduler the controller asks for with pyproject's --dist loadgroup (here, in a worker or with -n 0,
    # xdist has set it to "no"): a unit of work goes to one worker whole.
    monkeypatch.setattr(pytestconfig.option, "dist", "loadgroup")
    monkeypatch.setattr(pytestconfig.option, "tx", ["2*popen"])  # two workers, as -n 2 says
    scheduler = pytestconfig.hook.pytest_xdist_make_scheduler(config=pytestconfig, log=Producer("test"))
    assert scheduler is not None
    unit = scheduler._split_scope
    bench = [f"tests/test_bench_smoke.py::test_{name}" for name in ("a", "b[1]", "c[x@y]")]
    assert {unit(node) for node in bench} == {unit(bench[0])}
    browser, pip = unit("tests/test_review_browser.py::test_a"), unit("tests/test_docs_example_plugin.py::test_a")
    assert len({unit(bench[0]), browser, pip}) == 3
    assert unit("tests/test_jsonstream.py::test_a") != unit("tests/test_jsonstream.py::test_b")
    assert unit("tests/test_jsonstream.py::test_a") not in (unit(bench[0]), browser, pip)
