"""mypy's configuration keeps covering the whole project: every Python file, tests and benchmarks included, is in
the one run `mypy` makes (and `.ci/run` runs), and that run can name every file as exactly one module."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The plugin tutorial's example package: a third party's project of its own, which its test installs and runs.
NOT_OURS = ROOT / "docs" / "examples"


def mypy_config() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]


def project_files() -> list[Path]:
    """Every Python file of the project, without the virtualenv, the caches and the tutorial's example."""
    return sorted(path for path in ROOT.rglob("*.py")
                  if not any(part.startswith(".") or part.endswith(".egg-info") or part == "build"
                             for part in path.relative_to(ROOT).parts)
                  and not path.is_relative_to(NOT_OURS))


def test_mypy_checks_every_python_file_of_the_project() -> None:
    files = mypy_config()["files"]
    assert isinstance(files, list)
    checked = [ROOT / entry for entry in files]
    missed = [str(path.relative_to(ROOT)) for path in project_files()
              if not any(path.is_relative_to(folder) for folder in checked)]
    assert missed == [], "add their folders to [tool.mypy] files in pyproject.toml"


def test_each_file_is_one_module_for_mypy() -> None:
    # With explicit_package_bases a file's module name is its path from the nearest mypy_path folder (else from
    # the root): a conftest.py in two of those folders would be two modules named "conftest", and mypy stops.
    config = mypy_config()
    assert config.get("explicit_package_bases") is True
    bases = config["mypy_path"]
    assert isinstance(bases, list)
    with_conftest = [base for base in bases if (ROOT / base / "conftest.py").exists()]
    assert len(with_conftest) <= 1, f"two conftest modules named conftest, in {with_conftest}"
    # Nor may two of those folders hold files of the same name (two modules of the same bare name).
    seen: dict[str, str] = {}
    for base in bases:
        for path in sorted((ROOT / base).glob("*.py")):
            assert path.name not in seen, f"{path.name} is in both {seen[path.name]} and {base}"
            seen[path.name] = base
