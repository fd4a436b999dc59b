"""The package's shape: every module imports on its own (no import cycle), no module outgrows ~450 lines (the
plugins' neither), every sub-package is one that gets installed, and split packages keep their import paths."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "photogpt_batch"
MAX_LINES = 450


def module_names() -> list[str]:
    """Every module of the package, dotted (``photogpt_batch.spec.expand``), packages included."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


#: Imports each module named on the command line with none of its package's modules loaded: in one process,
#: whichever module is imported first decides the order, and can hide a cycle that importing another module
#: first runs into. (Third-party modules stay loaded: they cannot take part in a cycle of ours.)
_IMPORT_EACH_ALONE = """
import importlib, sys, traceback
failed = 0
for module in sys.argv[1:]:
    top = module.split(".")[0]
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]
    try:
        importlib.import_module(module)
    except Exception:
        failed += 1
        print(f"--- {module}:", traceback.format_exc(limit=-3), file=sys.stderr)
sys.exit(1 if failed else 0)
"""


def import_errors(modules: list[str], path: Path = ROOT) -> str:
    """What importing each of ``modules`` alone (``path`` first on the module path) reports; empty when all
    import."""
    done = subprocess.run([sys.executable, "-c", _IMPORT_EACH_ALONE, *modules], capture_output=True, text=True,
                          timeout=120, cwd=path)
    return done.stderr if done.returncode else ""


@pytest.mark.slow
def test_every_module_imports_on_its_own() -> None:
    assert import_errors(module_names()) == ""


@pytest.mark.slow
def test_an_import_cycle_fails_the_isolation_check(tmp_path: Path) -> None:
    # The check above must be able to fail: two modules that import names from each other. Importing the
    # package first (as `b` would be, by anything that uses it before `a`) hides the cycle from `a` alone.
    pkg = tmp_path / "cyclic"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import B\nA = 1\n")
    (pkg / "b.py").write_text("from .a import A\nB = 2\n")
    errors = import_errors(["cyclic", "cyclic.a", "cyclic.b"], tmp_path)
    assert "--- cyclic.a:" in errors and "--- cyclic.b:" in errors and "partially initialized" in errors


def test_no_module_is_over_450_lines() -> None:
    modules = [*PACKAGE.rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]
    long = {str(path.relative_to(ROOT)): n for path in sorted(modules)
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules into modules with one job each (at most {MAX_LINES} lines)"


def test_every_sub_package_is_installed() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    packages = {m for m in module_names() if (ROOT / m.replace(".", "/") / "__init__.py").is_file()}
    assert packages - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_the_client_package_keeps_its_public_import_path() -> None:
    from photogpt_batch import client
    from photogpt_batch.client import PhotoGPTClient, RateLimited
    from photogpt_batch.client.api import PhotoGPTClient as Defined

    assert PhotoGPTClient is Defined and RateLimited.__module__ == "photogpt_batch.client.errors"
    assert all(hasattr(client, name) for name in client.__all__)


def test_the_sandbox_keeps_its_public_api() -> None:
    from photogpt_batch import sandbox
    from photogpt_batch.sandbox.server import Sandbox

    assert sandbox.Sandbox is Sandbox and all(hasattr(sandbox, name) for name in sandbox.__all__)
