"""Issue #15: no module over ~450 lines, so each can be held in one's head; split packages keep their import paths."""

from __future__ import annotations

from pathlib import Path

import photogpt_batch

MAX_LINES = 450
PACKAGE = Path(photogpt_batch.__file__).parent
#: Being split on other branches right now (engine/ and cli/ on ``engine``, spec/ on ``structure``): each entry
#: goes once its module is gone, and a missing one is no failure, so those merges need no change here.
BEING_SPLIT = {"engine.py", "cli.py", "expand.py"}


def test_no_module_is_over_450_lines() -> None:
    roots = [PACKAGE, PACKAGE.parent / "plugins"]
    too_long = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            name = path.relative_to(PACKAGE).as_posix() if path.is_relative_to(PACKAGE) else str(path)
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES and name not in BEING_SPLIT:
                too_long[name] = lines
    assert too_long == {}, "split these into modules with one job each"


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


def test_every_package_is_listed_for_the_wheel() -> None:
    """pyproject.toml names the packages one by one: a package left out installs in development (editable)
    but is missing from the wheel users get."""
    import tomllib

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(("photogpt_batch", *init.parent.relative_to(PACKAGE).parts))
             for init in PACKAGE.rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
