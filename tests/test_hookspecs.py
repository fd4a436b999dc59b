"""Hooks are a public API: each is documented, typed and tested by name."""

from __future__ import annotations

import inspect

import photogpt_batch
from photogpt_batch import Model, hookimpl, hookspecs
from photogpt_batch.plugins import build_registry, make_plugin_host

HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if hasattr(fn, "photogpt_batch_spec")]


def test_every_hook_is_documented_with_typed_arguments() -> None:
    assert HOOKS == ["price_options", "register_models"]
    for name in HOOKS:
        fn = getattr(hookspecs, name)
        assert fn.__doc__ and len(fn.__doc__.split()) > 10, name
        assert all(p.annotation is not inspect.Parameter.empty for p in inspect.signature(fn).parameters.values())


def test_hookimpl_is_exported_for_plugin_authors() -> None:
    assert photogpt_batch.hookimpl is hookspecs.hookimpl


def test_register_models() -> None:
    class Plugin:
        @hookimpl
        def register_models(self, register):
            register(Model(id="demo-1", family="demo", option_group="demo", description="d",
                           options={"duration": {"type": "integer"}}))

    registry = build_registry(make_plugin_host(load_entry_points=False, extra=[Plugin()]))
    assert registry.ids() == ["demo-1"]
    model = registry.get("demo-1")
    assert model is not None and model.plugin


def test_builtin_families_are_found_through_the_entry_point_group() -> None:
    registry = build_registry(make_plugin_host(builtin_only=True))
    assert {m.plugin for m in registry.models.values()} == {"veo", "seedance", "kling", "grok"}
    assert len(registry.ids()) == 9


def _demo_model(model_id: str) -> Model:
    return Model(id=model_id, family="demo", option_group="demo", description="d",
                 options={"duration": {"type": "integer", "default": 4}, "seed": {"type": "integer"}})


def _registry_with(price_options):
    """A registry of demo-1 and demo-2 from one plugin whose price_options hook is ``price_options``."""
    answer = price_options

    class Plugin:
        @hookimpl
        def register_models(self, register):
            register(_demo_model("demo-1"))
            register(_demo_model("demo-2"))

        @hookimpl
        def price_options(self, model):
            return answer(model)

    return build_registry(make_plugin_host(load_entry_points=False, extra=[Plugin()]))


def test_price_options() -> None:
    registry = _registry_with(lambda model: ["duration"] if model.id == "demo-1" else None)
    assert registry.price_relevant("demo-1") == {"duration"}
    assert registry.price_relevant("demo-2") == {"duration", "seed"}  # nobody answered: every option counts
    assert registry.warnings == []


def test_price_options_naming_an_unknown_option_or_failing_is_a_warning_not_a_dead_cli() -> None:
    def answer(model):
        if model.id == "demo-2":
            raise RuntimeError("boom")
        return ["duration", "durtion"]

    registry = _registry_with(answer)
    assert registry.price_relevant("demo-1") == {"duration"}
    assert registry.price_relevant("demo-2") == {"duration", "seed"}
    assert any("durtion" in w for w in registry.warnings) and any("boom" in w for w in registry.warnings)


def test_the_builtin_plugins_declare_their_price_options() -> None:
    registry = build_registry(make_plugin_host(builtin_only=True))
    assert registry.price_relevant("veo-3.1") == {"duration", "resolution", "generateAudio"}
    assert registry.price_relevant("seedance-1.5-pro") == {"duration", "resolution", "draftMode", "generateAudio"}
    assert registry.price_relevant("seedance-2.0") == {"duration", "resolution", "generateAudio"}
    assert registry.price_relevant("kling-video-pro") == {"duration", "generateAudio"}
    assert registry.price_relevant("kling-motion-pro") == frozenset()
    assert registry.price_relevant("grok-imagine-1.5") == {"duration", "resolution"}
