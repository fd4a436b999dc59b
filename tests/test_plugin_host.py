"""The plugin host: it owns pluggy's manager and the loading warnings, and a misspelt hook is a warning naming
its plugin instead of a plugin that silently registers nothing."""

from __future__ import annotations

import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pluggy
import pytest

from photogpt_batch import Model, hookimpl
from photogpt_batch.plugins import PluginHost, build_registry, make_plugin_host, pm_warnings


def model(model_id: str) -> Model:
    return Model(id=model_id, family="acme", option_group="acme", description="Acme.", options={})


def module(name: str, **hooks: Callable[..., None]) -> types.ModuleType:
    """A plugin module named ``name`` with each of ``hooks`` marked as a hook implementation."""
    plugin = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(plugin, hook_name, hookimpl(fn))
    return plugin


def registers(*ids: str) -> Callable[[Callable[[Model], None]], None]:
    def hook(register: Callable[[Model], None]) -> None:
        for model_id in ids:
            register(model(model_id))

    return hook


def test_a_misspelt_register_models_is_a_warning_naming_the_plugin_and_the_hook() -> None:
    typo = module("acme_typo", register_model=registers("acme-1"))
    registry = build_registry(make_plugin_host(load_entry_points=False, extra=[typo]))
    assert registry.ids() == []
    assert registry.warnings == [
        "plugin 'acme_typo' implements 'register_model', which is not a photogpt-batch hook, so it is never "
        "called; did you mean 'register_models'?"
    ]


def test_a_plugin_with_a_misspelt_extra_hook_keeps_its_models_and_the_others_stay() -> None:
    mixed = module("acme_mixed", register_models=registers("acme-1"), regster_models=registers("acme-9"))
    good = module("acme_good", register_models=registers("acme-2"))
    registry = build_registry(make_plugin_host(load_entry_points=False, extra=[mixed, good]))
    assert registry.ids() == ["acme-1", "acme-2"]
    assert len(registry.warnings) == 1
    assert "plugin 'acme_mixed' implements 'regster_models'" in registry.warnings[0]


def test_every_misnamed_hook_of_every_plugin_is_named_not_only_the_first() -> None:
    first = module("first", register_model=registers("a"))
    second = module("second", models=registers("b"))
    warnings = build_registry(make_plugin_host(load_entry_points=False, extra=[first, second])).warnings
    assert [w.split(" implements ")[0] for w in warnings] == ["plugin 'second'", "plugin 'first'"]
    assert warnings[0].endswith("the hooks are price_options, register_models")  # no name close enough to suggest
    assert "'register_model'" in warnings[1] and warnings[1].endswith("did you mean 'register_models'?")


def test_an_optional_hook_of_another_version_is_not_a_warning() -> None:
    plugin = types.ModuleType("acme_future")
    plugin.register_templates = hookimpl(optionalhook=True)(registers())  # type: ignore[attr-defined]
    assert build_registry(make_plugin_host(load_entry_points=False, extra=[plugin])).warnings == []


def test_the_builtin_plugins_have_no_misnamed_hooks() -> None:
    assert make_plugin_host(builtin_only=True).unknown_hooks() == []


def test_the_host_owns_a_pluggy_manager_with_the_hook_specs() -> None:
    host = PluginHost()
    assert isinstance(host.manager, pluggy.PluginManager)
    assert host.hook.register_models.spec is not None
    assert pm_warnings(host) is host.warnings == []


def test_the_registry_names_where_each_plugins_code_comes_from() -> None:
    registry = build_registry(make_plugin_host(builtin_only=True))
    assert sorted(registry.sources) == ["grok", "kling", "seedance", "veo"]
    veo = registry.sources["veo"]
    assert veo.module == "photogpt_batch_plugins.veo"
    assert veo.release is not None and veo.release[0] == "photogpt-batch"


def test_a_plugin_registered_by_hand_is_a_source_without_a_distribution() -> None:
    class Plugin:
        @hookimpl
        def register_models(self, register: Callable[[Model], None]) -> None:
            pass

    registry = build_registry(make_plugin_host(load_entry_points=False, extra=[Plugin()]))
    [source] = registry.sources.values()
    assert source.module == __name__ and source.release is None


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path where a test installs a distribution by its metadata, as pip would lay it out."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("PHOTOGPT_BATCH_PLUGINS", raising=False)
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("acme_")]:
        del sys.modules[name]


def test_a_misspelt_hook_in_an_installed_plugin_is_a_warning_naming_its_entry_point(site: Path) -> None:
    info = site / "acme_typo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-typo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[photogpt_batch]\nacme = acme_typo_plugin\n")
    (site / "acme_typo_plugin.py").write_text(textwrap.dedent("""\
        from photogpt_batch import Model, hookimpl

        @hookimpl
        def register_model(register):
            register(Model(id="acme-1", family="acme", option_group="acme", description="A.", options={}))
        """))
    registry = build_registry(make_plugin_host())
    assert "acme-1" not in registry.ids() and "veo-3.1" in registry.ids()
    assert ("plugin 'acme' implements 'register_model', which is not a photogpt-batch hook, so it is never "
            "called; did you mean 'register_models'?") in registry.warnings


def test_trace_plugins_prints_each_register_models_call_and_what_it_registered(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PHOTOGPT_BATCH_TRACE_PLUGINS", "1")
    plugin = module("acme_traced", register_models=registers("acme-1", "acme-2"))
    build_registry(make_plugin_host(load_entry_points=False, extra=[plugin]))
    assert capsys.readouterr().err.splitlines() == [
        "photogpt-batch plugins: calling register_models of plugin 'acme_traced'",
        "photogpt-batch plugins: plugin 'acme_traced' registered acme-1, acme-2",
    ]


def test_without_trace_plugins_nothing_is_printed(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PHOTOGPT_BATCH_TRACE_PLUGINS", raising=False)
    plugin = module("quiet", register_models=registers("q"))
    build_registry(make_plugin_host(load_entry_points=False, extra=[plugin]))
    assert capsys.readouterr().err == ""
