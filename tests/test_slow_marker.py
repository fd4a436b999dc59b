"""`pytest -m "not slow"` stays a fast inner loop: every test that starts a process carries the ``slow`` marker.

A test starts a process when it, a function of its module that it calls, or a fixture of its module that it
uses calls ``subprocess.run``/``Popen``/... or ``asyncio.create_subprocess_exec``, or when it uses one of the
shared fixtures that start a server process (`PROCESS_FIXTURES`: a PostgreSQL cluster costs its worker an initdb
and a server's start, seconds of CPU). (Helpers imported from other modules are not followed: mark such tests by
hand.)
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent
SPAWNERS = {("subprocess", name) for name in ("run", "Popen", "call", "check_call", "check_output")} | {
    ("asyncio", "create_subprocess_exec"), ("asyncio", "create_subprocess_shell")}

#: Fixtures of the conftest files that start a process: PostgreSQL (tests/ledger/conftest.py), moto with IAM checks
#: on (tests/assets/conftest.py).
PROCESS_FIXTURES = {"pg_cluster", "pg_url", "moto_with_auth"}

Function = ast.FunctionDef | ast.AsyncFunctionDef


def _spawns_directly(function: Function) -> bool:
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and isinstance(node.func.value, ast.Name) and (node.func.value.id, node.func.attr) in SPAWNERS
               for node in ast.walk(function))


def _is_slow_mark(node: ast.expr) -> bool:
    return "slow" in {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}


def unmarked_process_tests(source: str) -> list[str]:
    """The test functions in ``source`` that start a process and are not marked slow."""
    tree = ast.parse(source)
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, Function)}
    spawning = {name for name, function in functions.items()
                if _spawns_directly(function) or {a.arg for a in function.args.args} & PROCESS_FIXTURES}
    grew = True
    while grew:  # a function that calls, or a test that uses as a fixture, a spawning function spawns too
        grew = False
        for name, function in functions.items():
            calls = {node.func.id for node in ast.walk(function)
                     if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
            if name not in spawning and (calls | {a.arg for a in function.args.args}) & spawning:
                spawning.add(name)
                grew = True
    module_slow = any(isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets)
                      and _is_slow_mark(node.value) for node in tree.body)
    return sorted(name for name in spawning if name.startswith("test_") and not module_slow
                  and not any(_is_slow_mark(d) for d in functions[name].decorator_list))


def test_every_test_that_starts_a_process_is_marked_slow() -> None:
    unmarked = [f"{path.relative_to(TESTS.parent)}::{name}" for path in sorted(TESTS.rglob("test_*.py"))
                for name in unmarked_process_tests(path.read_text(encoding="utf-8"))]
    assert unmarked == [], "these tests start a process: mark them @pytest.mark.slow so that " \
                           "`pytest -m \"not slow\"` stays fast"


def test_a_test_starting_a_process_through_a_helper_or_fixture_is_found() -> None:
    source = '''
import subprocess, asyncio, pytest

def cli(*args):
    return subprocess.run(["photogpt-batch", *args])

@pytest.fixture
def served():
    return cli("sandbox")

def test_direct():
    subprocess.Popen(["x"])

def test_through_a_helper():
    cli("models")

def test_through_a_fixture(served):
    pass

async def test_asyncio():
    await asyncio.create_subprocess_exec("x")

@pytest.mark.slow
def test_marked():
    cli("models")

def test_in_process():
    assert 1

def test_on_postgresql(tmp_path, pg_url):
    pass
'''
    assert unmarked_process_tests(source) == ["test_asyncio", "test_direct", "test_on_postgresql",
                                              "test_through_a_fixture", "test_through_a_helper"]
    assert unmarked_process_tests("import pytest\npytestmark = pytest.mark.slow\n" + source) == []
