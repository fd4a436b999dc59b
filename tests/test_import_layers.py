"""Imports follow the layers: the commands that send nothing (``validate``, ``plan``, ``status``, ``review``) never
import the HTTP client, aiohttp or the engine. Each command runs in a
fresh interpreter against a real ledger (two runs, then a changed spec), and the test reads what it imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import fast_sandbox, load, run_config, write_campaign

from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread

#: Runs the command line (``sys.argv[2:]``) as the installed script would, and writes every module it imported
#: to ``sys.argv[1]`` as it exits (``sys.exit`` included: ``status`` exits 1 on an unfinished campaign).
_RUN_AND_LIST = """
import atexit, sys
listing = sys.argv.pop(1)
atexit.register(lambda: open(listing, "w", encoding="utf-8").write("\\n".join(sorted(sys.modules))))
sys.argv[0] = "photogpt-batch"
from photogpt_batch.cli import main
main()
"""

HTTP = ("aiohttp", "photogpt_batch.client")
ENGINE = ("photogpt_batch.engine",)


@pytest.fixture
def campaign_spec(tmp_path: Path, state_home: Path) -> Path:
    """A campaign run twice (its second run with a changed prompt, so jobs have earlier versions), then changed
    again: ``plan`` has diffs to show, ``status`` earlier versions and credits, ``review`` videos. Per test, after
    ``state_home``: the runs record the campaign in the test's own index of campaigns, which ``plan`` reads."""
    spec = write_campaign(tmp_path, jobs=2)
    with SandboxThread(fast_sandbox()) as sandbox:
        for prompt in ("take two", "take three"):
            assert run_campaign(load(spec), run_config(sandbox), install_signal_handlers=False).complete
            spec.write_text(spec.read_text(encoding="utf-8").replace("shot number", prompt), encoding="utf-8")
    return spec


def imported_by(tmp_path: Path, *args: str) -> set[str]:
    """The modules a fresh interpreter imported while running ``photogpt-batch ARGS`` (which must not fail
    with a usage error or a traceback)."""
    listing = tmp_path / "modules.txt"
    done = subprocess.run([sys.executable, "-c", _RUN_AND_LIST, str(listing), *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return set(listing.read_text(encoding="utf-8").split())


def under(modules: set[str], roots: tuple[str, ...]) -> set[str]:
    """The ``modules`` that are one of ``roots`` or inside one."""
    return {m for m in modules if any(m == root or m.startswith(root + ".") for root in roots)}


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ("validate",),
    ("plan",),
    ("plan", "--json"),
    ("plan", "--output", "{fresh}"),  # new in this folder, paid in another: plan looks the campaign up
])
def test_validate_and_plan_import_neither_the_http_client_nor_the_engine(
        tmp_path: Path, campaign_spec: Path, args: tuple[str, ...]) -> None:
    words = [word.replace("{fresh}", str(tmp_path / "fresh")) for word in args]
    modules = imported_by(tmp_path, *words, str(campaign_spec))
    assert under(modules, HTTP) == set()
    assert under(modules, ENGINE) == set()


@pytest.mark.slow
@pytest.mark.parametrize("args", [("status",), ("status", "--json"), ("review",)])
def test_status_and_review_import_neither_the_http_client_nor_the_engine(
        tmp_path: Path, campaign_spec: Path, args: tuple[str, ...]) -> None:
    modules = imported_by(tmp_path, *args, str(campaign_spec))
    assert under(modules, HTTP) == set()
    assert under(modules, ENGINE) == set()
