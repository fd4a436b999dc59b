"""Hooks are a public API: each is documented, typed and tested by name."""

from __future__ import annotations

import inspect

import photogpt_batch
from photogpt_batch import Model, hookimpl, hookspecs
from photogpt_batch.plugins import build_registry, make_plugin_manager

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

    registry = build_registry(make_plugin_manager(load_entry_points=False, extra=[Plugin()]))
    assert registry.ids() == ["demo-1"]
    assert registry.get("demo-1").plugin


def test_builtin_families_are_found_through_the_entry_point_group() -> None:
    registry = build_registry(make_plugin_manager(builtin_only=True))
    assert {m.plugin for m in registry.models.values()} == {"veo", "seedance", "kling", "grok"}
    assert len(registry.ids()) == 9
