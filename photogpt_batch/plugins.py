"""The plugin manager and the model registry built from it.

Plugins come from the ``photogpt_batch`` entry-point group, built-ins included, so a third-party family is
installed and found exactly like ours. A plugin that fails to import or to register is reported as a warning
naming it; the rest keep working. ``PHOTOGPT_BATCH_PLUGINS`` (a comma-separated list of entry-point names)
limits which plugins load, and ``PHOTOGPT_BATCH_TRACE_PLUGINS=1`` prints each hook call, for plugin authors.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import pluggy

from . import hookspecs
from .models import Model


@dataclass
class Registry:
    """Every registered model by id, and the warnings met while loading plugins."""

    models: dict[str, Model] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def get(self, model_id: str) -> Model | None:
        """The model with this id, or None."""
        return self.models.get(model_id)

    def ids(self) -> list[str]:
        """All model ids, sorted."""
        return sorted(self.models)


DISTRIBUTION = "photogpt-batch"


def make_plugin_manager(
    load_entry_points: bool = True, extra: Iterable[object] = (), builtin_only: bool = False
) -> pluggy.PluginManager:
    """A plugin manager with the hook specs, the entry-point plugins and ``extra`` plugin objects.

    ``builtin_only`` keeps only the entry points this distribution declares (for the committed schemas).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if os.environ.get("PHOTOGPT_BATCH_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda msg: print(msg, end="", file=sys.stderr))
        pm.enable_tracing()
    if load_entry_points:
        _load_entry_points(pm, builtin_only)
    for plugin in extra:
        pm.register(plugin)
    return pm


def _load_entry_points(pm: pluggy.PluginManager, builtin_only: bool) -> None:
    allowed = os.environ.get("PHOTOGPT_BATCH_PLUGINS")
    allow = {name.strip() for name in allowed.split(",")} if allowed else None
    # Built-ins first: a model id is kept by whoever registers it first, so a third-party distribution
    # that sorts earlier on sys.path cannot take over a built-in model.
    eps = sorted(importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME),
                 key=lambda ep: ep.dist is None or ep.dist.name != DISTRIBUTION)
    for ep in eps:
        if allow is not None and ep.name not in allow:
            continue
        if builtin_only and (ep.dist is None or ep.dist.name != DISTRIBUTION):
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken third-party plugin must not take the CLI down
            pm_warnings(pm).append(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc!r}")
    unknown = sorted(allow - {ep.name for ep in eps}) if allow is not None else []
    if unknown:
        # A typo here silently leaves a model out, which then reads as "unknown model" in every spec.
        pm_warnings(pm).append(f"PHOTOGPT_BATCH_PLUGINS names {', '.join(map(repr, unknown))}, which no installed "
                               f"plugin is called; installed: {', '.join(sorted({ep.name for ep in eps}))}")


def pm_warnings(pm: pluggy.PluginManager) -> list[str]:
    """Warnings collected on a plugin manager while loading it."""
    if not hasattr(pm, "_photogpt_warnings"):
        pm._photogpt_warnings = []  # type: ignore[attr-defined]
    return pm._photogpt_warnings  # type: ignore[attr-defined]


def build_registry(pm: pluggy.PluginManager) -> Registry:
    """Call every plugin's ``register_models`` and collect the models, one plugin at a time.

    Each plugin is called on its own so that one raising, or registering something that is not a Model,
    costs only that plugin.
    """
    registry = Registry(warnings=list(pm_warnings(pm)))
    for impl in pm.hook.register_models.get_hookimpls():
        name = pm.get_name(impl.plugin) or repr(impl.plugin)

        def register(model: Model, _plugin: str = name) -> None:
            if not isinstance(model, Model):
                raise TypeError(f"register() takes a photogpt_batch.Model, not {type(model).__name__}")
            existing = registry.models.get(model.id)
            if existing is not None:
                registry.warnings.append(
                    f"plugin {_plugin!r} registers model {model.id!r}, already registered by "
                    f"{existing.plugin!r}; keeping the first"
                )
                return
            registry.models[model.id] = replace(model, plugin=_plugin)

        try:
            impl.function(register=register)
        except Exception as exc:
            registry.warnings.append(f"plugin {name!r} failed in register_models: {exc!r}")
    return registry


_default: Registry | None = None


def get_registry() -> Registry:
    """The registry of the installed plugins, built once per process."""
    global _default
    if _default is None:
        _default = build_registry(make_plugin_manager())
    return _default
