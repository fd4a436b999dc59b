"""The repository's ``.pre-commit-hooks.yaml``: a repo that commits campaigns validates them on every commit.

pre-commit itself is not installed: the test reads the hook as pre-commit would, and runs its entry on the
files pre-commit would pass it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).parents[1]
GOOD = """\
version: 1
campaign: launch
jobs:
  - {id: hero, model: veo-3.1, prompt: a bottle on wet stone, options: {duration: 8}}
"""
BAD = GOOD.replace("duration: 8", "duration: 5")


@pytest.fixture(scope="module")
def hook() -> dict[str, Any]:
    (hook,) = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    return hook


def test_the_hook_has_what_pre_commit_requires(hook: dict[str, Any]) -> None:
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["id"] == "photogpt-batch-validate" and hook["language"] == "python"
    assert shlex.split(hook["entry"]) == ["photogpt-batch", "validate"]


@pytest.mark.parametrize(("path", "checked"), [
    ("specs/demo.yaml", True), ("campaigns/spring.yml", True), ("marketing/campaign/q3.yaml", True),
    ("specs/nested/a.yaml", True), (".github/workflows/ci.yaml", False), ("docker-compose.yml", False),
    ("specs/readme.md", False), ("myspecs/a.yaml", False),
])
def test_the_files_pattern_picks_campaign_folders(hook: dict[str, Any], path: str, checked: bool) -> None:
    # pre-commit matches `files` with re.search on the path relative to the repository's root.
    assert bool(re.search(hook["files"], path)) is checked


@pytest.mark.slow
def test_the_entry_validates_the_files_it_is_given(hook: dict[str, Any], tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(BAD, encoding="utf-8")
    # The console script of the environment pre-commit would build: this venv's.
    program, *args = shlex.split(hook["entry"])
    entry = [str(Path(sys.executable).with_name(program)), *args]

    passed = subprocess.run([*entry, str(good)], capture_output=True, text=True, timeout=60)
    assert passed.returncode == 0, passed.stdout + passed.stderr

    failed = subprocess.run([*entry, str(good), str(bad)], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 2
    assert f"{bad}:4:" in failed.stdout and "duration" in failed.stdout
