"""The library API `photogpt_batch` exports (docs/library.md): every name imports, is the object the commands use,
costs nothing until used, and the package ships its type hints."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest

import photogpt_batch

ROOT = Path(__file__).parents[1]
DEMO = ROOT / "specs" / "demo.yaml"
PROMISED = ["load_campaign", "make_plan", "run_campaign", "read_status", "Model", "Problem", "hookimpl"]


@pytest.mark.parametrize("name", PROMISED)
def test_each_promised_name_is_exported(name: str) -> None:
    assert name in photogpt_batch.__all__
    exec(f"from photogpt_batch import {name}", {})


def test_every_exported_name_is_the_object_its_module_defines() -> None:
    assert sorted(photogpt_batch.__all__) == sorted(photogpt_batch._EXPORTS)
    for name, module in photogpt_batch._EXPORTS.items():
        assert getattr(photogpt_batch, name) is getattr(importlib.import_module(module, "photogpt_batch"), name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'lod_campaign'"):
        photogpt_batch.lod_campaign  # noqa: B018
    with pytest.raises(ImportError):
        exec("from photogpt_batch import lod_campaign", {})


def test_dir_lists_the_exports() -> None:
    assert set(photogpt_batch.__all__) <= set(dir(photogpt_batch))


def test_the_package_ships_py_typed_as_package_data() -> None:
    assert resources.files("photogpt_batch").joinpath("py.typed").is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["photogpt_batch"]


def imported_after(code: str) -> set[str]:
    """The heavy modules a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe, str(DEMO)], capture_output=True, text=True, check=True,
                          timeout=60)
    return set(done.stdout.split()) & {"asyncio", "sqlite3", "aiohttp", "pluggy", "ruamel.yaml",
                                       "photogpt_batch.ledger", "photogpt_batch.client"}


@pytest.mark.slow
def test_importing_the_package_imports_nothing_heavy() -> None:
    assert imported_after("import photogpt_batch") == set()


@pytest.mark.slow
def test_loading_a_campaign_through_the_package_does_not_import_the_client_or_the_ledger() -> None:
    assert imported_after("import sys; from photogpt_batch import load_campaign; load_campaign(sys.argv[1])") == {
        "pluggy", "ruamel.yaml"}


RESULT_TYPES = ["Campaign", "Plan", "RunSummary", "StatusReport"]


@pytest.mark.parametrize("name", RESULT_TYPES)
def test_each_result_type_is_exported(name: str) -> None:
    assert name in photogpt_batch.__all__
    exec(f"from photogpt_batch import {name}", {})


def test_the_functions_return_the_exported_result_types(tmp_path: Path) -> None:
    from photogpt_batch import (
        Campaign,
        Plan,
        RunConfig,
        RunSummary,
        StatusReport,
        load_campaign,
        make_plan,
        read_status,
        run_campaign,
    )

    campaign = load_campaign(DEMO)
    campaign.output = tmp_path / "out"
    assert isinstance(campaign, Campaign)
    assert isinstance(make_plan(campaign), Plan)
    assert isinstance(run_campaign(campaign, RunConfig(sandbox=True), install_signal_handlers=False), RunSummary)
    assert isinstance(read_status(campaign), StatusReport)


def test_the_library_runs_a_campaign_as_the_docs_show(tmp_path: Path) -> None:
    from photogpt_batch import EngineOptions, RunConfig, load_campaign, make_plan, read_status, run_campaign

    campaign = load_campaign(DEMO)
    campaign.output = tmp_path / "out"
    assert make_plan(campaign).counts() == {"new": 4}
    summary = run_campaign(campaign, RunConfig(sandbox=True, engine=EngineOptions(concurrency=8)),
                           install_signal_handlers=False)
    assert summary.complete and summary.videos_downloaded == 5
    assert read_status(campaign).complete
    assert make_plan(campaign).counts() == {"done": 4}
