"""The plugin tutorial's example (docs/examples/photogpt-batch-acme) works as the tutorial says, installed the way
a user installs it: pip builds and installs the package into a folder, and photogpt-batch finds it through its
entry point, in-process and from the command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from photogpt_batch.plugins import build_registry, make_plugin_host

EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "photogpt-batch-acme"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example: building it writes build/ and *.egg-info next to its sources."""
    copy = tmp_path_factory.mktemp("source") / EXAMPLE.name
    shutil.copytree(EXAMPLE, copy)
    return copy


@pytest.fixture(scope="module")
def site(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed by pip into a folder of its own (no dependencies: photogpt-batch is here)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(source)], check=True, timeout=120)
    return target


def photogpt(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    env.pop("PHOTOGPT_BATCH_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "photogpt_batch", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_pip_installs_the_entry_point_the_tutorial_declares(site: Path) -> None:
    (info,) = site.glob("photogpt_batch_acme-*.dist-info")
    assert (info / "entry_points.txt").read_text().split() == ["[photogpt_batch]", "acme", "=", "photogpt_batch_acme"]


def test_the_model_is_registered_through_its_entry_point(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("PHOTOGPT_BATCH_PLUGINS", raising=False)
    registry = build_registry(make_plugin_host())
    model = registry.get("acme-motion-1")
    assert model is not None and model.plugin == "acme" and model.family == "acme"
    assert registry.warnings == []


def test_models_lists_the_plugins_model(site: Path, tmp_path: Path) -> None:
    result = photogpt(site, tmp_path, "models", "--json")
    assert result.returncode == 0, result.stderr
    models = {m["id"]: m for m in json.loads(result.stdout)}
    assert models["acme-motion-1"]["plugin"] == "acme"
    assert set(models["acme-motion-1"]["options"]) == {"duration", "style", "loop"}
    assert "veo-3.1" in models


def test_the_tutorials_spec_validates_and_plans_the_documented_body(site: Path, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    shutil.copy(EXAMPLE / "spec.yaml", spec)
    assert photogpt(site, tmp_path, "validate", str(spec)).returncode == 0
    result = photogpt(site, tmp_path, "plan", "--json", str(spec))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["jobs"][0]["request"] == {
        "modelID": "acme-motion-1", "prompt": "an amber glass bottle turning on a plinth",
        "options": {"acme": {"style": "photo", "loop": True, "duration": 6}}}


def test_a_spec_breaking_the_plugins_rule_fails_at_the_line_of_duration(site: Path, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text((EXAMPLE / "spec.yaml").read_text().replace("duration: 6", "duration: 8"))
    result = photogpt(site, tmp_path, "validate", str(spec))
    assert result.returncode == 2
    lines = spec.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "duration: 8" in text)
    column = lines[line - 1].index("duration: 8") + len("duration: ") + 1  # at the value
    assert (f"{spec}:{line}:{column}: error: options.duration: loop needs a duration of at most 6; this job has 8"
            in result.stdout), result.stdout
    assert "shorten the video or set loop: false" in result.stdout


def test_an_option_the_model_rejects_gets_the_plugins_reason(site: Path, tmp_path: Path) -> None:
    spec = tmp_path / "ratio.yaml"
    spec.write_text((EXAMPLE / "spec.yaml").read_text().replace("style: photo", "aspectRatio: '9:16'"))
    result = photogpt(site, tmp_path, "validate", str(spec))
    assert result.returncode == 2
    assert "acme-motion-1 always renders 16:9" in result.stdout


def test_the_example_packages_own_tests_pass(site: Path, source: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--rootdir",
                             str(source), "tests"], env=env, cwd=source, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" PASSED") == 3, result.stdout


def test_the_tutorials_campaign_rehearses_end_to_end_on_the_sandbox(site: Path, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    shutil.copy(EXAMPLE / "spec.yaml", spec)
    result = photogpt(site, tmp_path, "run", str(spec), "--sandbox", "--accept-model", "acme-motion-1:acme", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "out" / "acme-demo" / "spin" / "1.mp4").stat().st_size > 0
