"""Third-party model plugins: a new family works without touching the core, and a broken one costs only itself.

In-process tests hand plugin objects to `make_plugin_host(extra=...)`. The entry-point tests install a
throwaway distribution for real: a ``*.dist-info`` folder with an ``entry_points.txt`` in a temporary
directory on ``PYTHONPATH`` of a ``photogpt-batch`` subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from photogpt_batch import Model, Problem, hookimpl
from photogpt_batch.models import Job
from photogpt_batch.plugins import Registry, build_registry, make_plugin_host
from photogpt_batch.spec.diagnostics import SpecError
from photogpt_batch.spec.load import load_campaign
from photogpt_batch.views.plan import make_plan

ACME_OPTIONS: dict[str, dict[str, Any]] = {
    "style": {"type": "string", "enum": ["noir", "pastel"], "description": "Look of the video."},
    "seed": {"type": "integer", "description": "Seed."},
}


def at_most_two_references(job: Job, model: Model) -> Iterator[Problem]:
    """Acme takes at most two reference images."""
    for index in range(2, len(job.get("referenceImages") or [])):
        yield Problem(("referenceImages", index), "acme-1 takes at most 2 reference images")


def acme_model(model_id: str = "acme-1", rules: tuple[Any, ...] = (at_most_two_references,)) -> Model:
    return Model(id=model_id, family="acme", option_group="acme", description="Acme's video model.",
                 options=ACME_OPTIONS, rules=rules)


def plugin_module(name: str, register_models: Callable[[Callable[[Model], None]], None]) -> types.ModuleType:
    """A plugin module object named ``name`` whose ``register_models`` hook is ``register_models``."""
    module = types.ModuleType(name)
    module.register_models = hookimpl(register_models)  # type: ignore[attr-defined]
    return module


def registry_with(*plugins: object) -> Registry:
    return build_registry(make_plugin_host(load_entry_points=True, extra=plugins))


def acme_plugin() -> types.ModuleType:
    def register_models(register: Callable[[Model], None]) -> None:
        register(acme_model())

    return plugin_module("acme_video", register_models)


ACME_SPEC = """\
version: 1
campaign: acme
jobs:
  - id: "noir-{seed}"
    model: acme-1
    prompt: a detective in the rain
    matrix: {seed: [1, 2]}
    options: {style: noir, seed: "{seed}"}
"""


def write(tmp_path: Path, text: str, name: str = "campaign.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- in process -----------------------------------------------------------------------------------------


def test_third_party_plugin_adds_a_model_next_to_the_builtins() -> None:
    registry = registry_with(acme_plugin())
    assert registry.get("acme-1") is not None
    assert registry.models["acme-1"].plugin == "acme_video"
    assert {"veo-3.1", "seedance-2.0", "kling-video-pro", "grok-imagine-1.5"} <= set(registry.ids())


def test_spec_using_a_third_party_model_plans_its_request_body(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    campaign = load_campaign(write(tmp_path, ACME_SPEC), registry_with(acme_plugin()))
    plan = make_plan(campaign).to_json()
    assert [(job["id"], job["state"], job["request"]) for job in plan["jobs"]] == [
        ("noir-1", "new", {"modelID": "acme-1", "prompt": "a detective in the rain",
                           "options": {"acme": {"style": "noir", "seed": 1}}}),
        ("noir-2", "new", {"modelID": "acme-1", "prompt": "a detective in the rain",
                           "options": {"acme": {"style": "noir", "seed": 2}}}),
    ]


def test_third_party_options_are_validated_with_located_errors(tmp_path: Path) -> None:
    path = write(tmp_path, ACME_SPEC.replace("style: noir", "style: pastl, sede: 3"))
    with pytest.raises(SpecError) as caught:
        load_campaign(path, registry_with(acme_plugin()))
    found = {(d.line, d.column): d for d in caught.value.diagnostics}
    assert set(found) == {(8, 22), (8, 29)}
    assert "pastl is not one of noir, pastel (acme-1" in found[(8, 22)].message
    assert found[(8, 22)].hint == "did you mean 'pastel'?"
    assert found[(8, 29)].hint == "did you mean 'seed'?"


def test_third_party_rules_are_located_errors(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        version: 1
        campaign: acme
        jobs:
          - id: refs
            model: acme-1
            prompt: p
            referenceImages:
              - {url: "https://example.com/1.png", role: reference_image}
              - {url: "https://example.com/2.png", role: reference_image}
              - {url: "https://example.com/3.png", role: reference_image}
        """)
    with pytest.raises(SpecError) as caught:
        load_campaign(path, registry_with(acme_plugin()))
    assert [(d.line, d.column, d.message) for d in caught.value.diagnostics] == [
        (10, 9, "referenceImages[2]: acme-1 takes at most 2 reference images (acme-1; job refs)")]


def test_a_rule_that_raises_is_reported_against_the_job_not_raised(tmp_path: Path) -> None:
    def broken_rule(job: Job, model: Model) -> Iterator[Problem]:
        raise ZeroDivisionError("bug in acme")

    def register_models(register: Callable[[Model], None]) -> None:
        register(acme_model(rules=(broken_rule,)))

    with pytest.raises(SpecError) as caught:
        load_campaign(write(tmp_path, ACME_SPEC), registry_with(plugin_module("acme_buggy", register_models)))
    assert [d.message for d in caught.value.diagnostics] == [
        "plugin 'acme_buggy' failed checking: ZeroDivisionError('bug in acme') (acme-1; 2 jobs: noir-1, noir-2)"]


def test_register_models_that_raises_is_a_warning_and_the_others_stay() -> None:
    def register_models(register: Callable[[Model], None]) -> None:
        raise RuntimeError("no licence key")

    registry = registry_with(plugin_module("acme_raises", register_models), acme_plugin())
    assert "acme-1" in registry.ids() and "veo-3.1" in registry.ids()
    assert registry.warnings == ["plugin 'acme_raises' failed in register_models: RuntimeError('no licence key')"]


def test_registering_something_that_is_not_a_model_is_a_warning() -> None:
    def register_models(register: Callable[[Model], None]) -> None:
        register({"id": "acme-2"})  # type: ignore[arg-type]

    registry = registry_with(plugin_module("acme_dict", register_models))
    assert "acme-2" not in registry.ids()
    assert len(registry.warnings) == 1 and "takes a photogpt_batch.Model, not dict" in registry.warnings[0]


def test_duplicate_model_id_is_a_warning_and_the_first_is_kept() -> None:
    def register_other(register: Callable[[Model], None]) -> None:
        register(acme_model().__class__(**{**acme_model().__dict__, "description": "an impostor"}))

    registry = registry_with(acme_plugin(), plugin_module("acme_impostor", register_other))
    assert registry.models["acme-1"].plugin == "acme_video"
    assert registry.warnings == ["plugin 'acme_impostor' registers model 'acme-1', already registered by "
                                 "'acme_video'; keeping the first"]


def test_plugins_env_var_limits_the_entry_point_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOGPT_BATCH_PLUGINS", "veo")
    registry = build_registry(make_plugin_host())
    assert registry.ids() == ["veo-3.1", "veo-3.1-fast"]
    assert {m.plugin for m in registry.models.values()} == {"veo"}


def test_plugins_env_var_takes_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOGPT_BATCH_PLUGINS", "veo, grok")
    assert {m.plugin for m in build_registry(make_plugin_host()).models.values()} == {"veo", "grok"}


def test_a_plugin_name_in_the_env_var_that_is_not_installed_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOGPT_BATCH_PLUGINS", "veo, seedanse")
    registry = build_registry(make_plugin_host())
    assert {m.plugin for m in registry.models.values()} == {"veo"}
    [warning] = registry.warnings
    assert "PHOTOGPT_BATCH_PLUGINS names 'seedanse'" in warning and "seedance" in warning


# --- real entry points, in a subprocess -----------------------------------------------------------------

PLUGIN_SOURCES = {
    "acme_good": """
        from photogpt_batch import Model, hookimpl

        @hookimpl
        def register_models(register):
            register(Model(id="acme-1", family="acme", option_group="acme", description="Acme 1.",
                           options={"style": {"type": "string", "enum": ["noir", "pastel"]}}))
        """,
    "acme_broken": """
        raise RuntimeError("acme_broken cannot start")
        """,
    "acme_raises": """
        from photogpt_batch import hookimpl

        @hookimpl
        def register_models(register):
            raise ValueError("no licence key")
        """,
    "acme_dupe": """
        from photogpt_batch import Model, hookimpl

        @hookimpl
        def register_models(register):
            register(Model(id="acme-1", family="acme", option_group="acme", description="A second acme-1.",
                           options={}))
            register(Model(id="acme-2", family="acme", option_group="acme", description="Acme 2.", options={}))
        """,
    "acme_shadow": """
        from photogpt_batch import Model, hookimpl

        @hookimpl
        def register_models(register):
            register(Model(id="veo-3.1", family="acme", option_group="acme", description="Not Veo.", options={}))
        """,
}


def install(site: Path, names: list[str]) -> None:
    """A distribution ``acme-plugins`` in ``site`` whose ``photogpt_batch`` entry points are ``names``."""
    info = site / "acme_plugins-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[photogpt_batch]\n" + "".join(f"{n} = {n}\n" for n in names))
    for name in names:
        (site / f"{name}.py").write_text(textwrap.dedent(PLUGIN_SOURCES[name]))


def photogpt(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI with ``site`` on PYTHONPATH, from ``cwd`` (default ``site``: not the project folder, whose
    egg-info would otherwise come first on sys.path)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    env.pop("PHOTOGPT_BATCH_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "photogpt_batch", *args], env=env, cwd=cwd or site,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def acme_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    install(site, ["acme_good", "acme_broken", "acme_raises", "acme_dupe"])
    return site


@pytest.fixture(scope="module")
def models_json(acme_site: Path) -> subprocess.CompletedProcess[str]:
    return photogpt(acme_site, "models", "--json")


@pytest.mark.slow
def test_models_still_works_with_a_broken_plugin_installed(models_json: subprocess.CompletedProcess[str]) -> None:
    assert models_json.returncode == 0, models_json.stderr
    assert "Traceback" not in models_json.stderr
    assert {m["id"] for m in json.loads(models_json.stdout)} >= {"veo-3.1", "acme-1", "acme-2"}


@pytest.mark.slow
def test_plugin_that_fails_to_import_is_a_warning_naming_it(models_json: subprocess.CompletedProcess[str]) -> None:
    assert "warning: plugin 'acme_broken' (acme_broken) failed to load: RuntimeError('acme_broken cannot start')" \
        in models_json.stderr


@pytest.mark.slow
def test_plugin_whose_register_models_raises_is_a_warning_naming_it(
        models_json: subprocess.CompletedProcess[str]) -> None:
    assert "warning: plugin 'acme_raises' failed in register_models: ValueError('no licence key')" \
        in models_json.stderr


@pytest.mark.slow
def test_duplicate_model_from_an_entry_point_is_a_warning_and_the_first_is_kept(
        models_json: subprocess.CompletedProcess[str]) -> None:
    plugins = {m["id"]: m["plugin"] for m in json.loads(models_json.stdout)}
    assert plugins["acme-1"] == "acme_good"
    assert plugins["acme-2"] == "acme_dupe"
    assert "plugin 'acme_dupe' registers model 'acme-1', already registered by 'acme_good'" in models_json.stderr


@pytest.mark.slow
def test_models_lists_every_model_with_its_plugin(models_json: subprocess.CompletedProcess[str]) -> None:
    plugins = {m["id"]: m["plugin"] for m in json.loads(models_json.stdout)}
    assert plugins["veo-3.1"] == "veo" and plugins["seedance-2.0"] == "seedance"
    assert plugins["kling-motion-pro"] == "kling" and plugins["grok-imagine-1.5"] == "grok"


@pytest.mark.slow
def test_entry_point_model_plans_through_the_cli(acme_site: Path, tmp_path: Path) -> None:
    spec = write(tmp_path, """\
        version: 1
        campaign: acme
        jobs:
          - {id: a, model: acme-1, prompt: p, options: {style: pastel}}
        """)
    result = photogpt(acme_site, "plan", "--json", str(spec), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["jobs"][0]["request"] == {
        "modelID": "acme-1", "prompt": "p", "options": {"acme": {"style": "pastel"}}}


@pytest.mark.slow
def test_schema_command_leaves_third_party_models_out_by_default(acme_site: Path, tmp_path: Path) -> None:
    result = photogpt(acme_site, "schema", "--out", str(tmp_path / "schemas"))
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "schemas" / "acme-1.schema.json").exists()
    assert (tmp_path / "schemas" / "veo-3.1.schema.json").exists()


@pytest.mark.slow
def test_third_party_plugin_cannot_take_over_a_builtin_model(tmp_path: Path) -> None:
    install(tmp_path, ["acme_shadow"])
    result = photogpt(tmp_path, "models", "--json")
    plugins = {m["id"]: m["plugin"] for m in json.loads(result.stdout)}
    assert plugins["veo-3.1"] == "veo"
    assert "plugin 'acme_shadow' registers model 'veo-3.1', already registered by 'veo'" in result.stderr


@pytest.mark.slow
def test_a_new_plugins_campaign_runs_end_to_end_on_a_sandbox_told_to_accept_its_model(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install(site, ["acme_good"])
    spec = write(tmp_path, """\
        version: 1
        campaign: acme
        jobs:
          - {id: a, model: acme-1, prompt: p, options: {style: pastel}}
        """)
    refused = photogpt(site, "run", str(spec), "--sandbox", "--output", str(tmp_path / "refused"), cwd=tmp_path)
    assert refused.returncode == 1 and "'acme-1' is not a known model" in refused.stdout + refused.stderr

    result = photogpt(site, "run", str(spec), "--sandbox", "--accept-model", "acme-1:acme", "--output",
                      str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "a" / "1.mp4").stat().st_size > 0
