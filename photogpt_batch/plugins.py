"""The plugin manager and the model registry built from it.

Plugins come from the ``photogpt_batch`` entry-point group, built-ins included, so a third-party family is
installed and found exactly like ours. `PluginHost` owns the pluggy manager and the warnings met while loading:
a plugin that fails to import or to register, or whose hook implementation has a name that is no hook (a
misspelt ``register_models``), is a warning naming it; the rest keep working. ``PHOTOGPT_BATCH_PLUGINS`` (a
comma-separated list of entry-point names) limits which plugins load, and ``PHOTOGPT_BATCH_TRACE_PLUGINS=1``
prints each hook call, for plugin authors.
"""

from __future__ import annotations

import difflib
import functools
import importlib.metadata
import os
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import pluggy

from . import hookspecs
from .models import Model


@dataclass(eq=False)
class PluginSource:
    """Where a registered plugin's code comes from: the module its hooks live in, and the installed distribution
    that provides it (None for a plugin object registered by hand). What the spec's memo fingerprints."""

    name: str
    module: str
    dist: importlib.metadata.Distribution | None = field(default=None, repr=False)

    @functools.cached_property
    def release(self) -> tuple[str, str] | None:
        """(distribution name, version), or None; read once (the metadata is parsed on each ask)."""
        return (self.dist.name, self.dist.version) if self.dist is not None else None


def plugin_module(plugin: object) -> str:
    """The name of the module a plugin object's code lives in (the module itself, a class's, an instance's)."""
    if isinstance(plugin, types.ModuleType):
        return plugin.__name__
    return str(getattr(plugin, "__module__", None) or type(plugin).__module__)


@dataclass
class Registry:
    """Every registered model by id, and the warnings met while loading plugins."""

    models: dict[str, Model] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: Per model id, the options that can change its price (the ``price_options`` hook; default: all).
    price_options: dict[str, frozenset[str]] = field(default_factory=dict)
    #: The plugins the models come from, by name: whose code a change to invalidates what was built with them.
    sources: dict[str, PluginSource] = field(default_factory=dict)

    def price_relevant(self, model_id: str) -> frozenset[str]:
        """The options of ``model_id`` that can change its price (every option, unless a plugin said less)."""
        found = self.price_options.get(model_id)
        if found is not None:
            return found
        model = self.models.get(model_id)
        return frozenset(model.options) if model else frozenset()

    def get(self, model_id: str) -> Model | None:
        """The model with this id, or None."""
        return self.models.get(model_id)

    def ids(self) -> list[str]:
        """All model ids, sorted."""
        return sorted(self.models)


DISTRIBUTION = "photogpt-batch"


class PluginHost:
    """The pluggy plugin manager with our hook specs, and the warnings met while loading plugins into it.

    Loading never raises for a plugin's fault: a plugin that fails to import or register, a
    ``PHOTOGPT_BATCH_PLUGINS`` naming no installed plugin, and a hook implementation whose name is no hook
    (pluggy's ``check_pending``: ``register_model`` for ``register_models``) each become a warning naming the
    plugin, and the other plugins keep working.
    """

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.warnings: list[str] = []
        #: The distribution of each plugin loaded from an entry point, by its name.
        self.distributions: dict[str, importlib.metadata.Distribution] = {}
        self.tracing = bool(os.environ.get("PHOTOGPT_BATCH_TRACE_PLUGINS"))
        if self.tracing:
            # Hooks called through `hook` are traced by pluggy; `build_registry` calls each plugin's
            # register_models on its own (so one failing costs only itself) and traces those calls with `trace`.
            self.manager.trace.root.setwriter(lambda msg: print(msg, end="", file=sys.stderr))
            self.manager.enable_tracing()

    def trace(self, message: str) -> None:
        """Print ``message`` to stderr when ``PHOTOGPT_BATCH_TRACE_PLUGINS`` is set."""
        if self.tracing:
            print(f"photogpt-batch plugins: {message}", file=sys.stderr)

    @property
    def hook(self) -> pluggy.HookRelay:
        """The hooks, to call: ``host.hook.register_models``."""
        return self.manager.hook

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object (a module, a class instance); pluggy's errors propagate."""
        self.manager.register(plugin, name=name)

    def plugin_name(self, plugin: object) -> str:
        """The name a plugin was registered under (its entry-point name), for messages."""
        return self.manager.get_name(plugin) or repr(plugin)

    def load_entry_points(self, builtin_only: bool = False) -> None:
        """Register the plugins of the ``photogpt_batch`` entry-point group, built-ins first.

        ``builtin_only`` keeps only the entry points this distribution declares (for the committed schemas).
        """
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
            if self.manager.get_plugin(ep.name) is not None:
                continue
            try:
                self.register(ep.load(), name=ep.name)
                if ep.dist is not None:
                    self.distributions[ep.name] = ep.dist
            except Exception as exc:  # a broken third-party plugin must not take the CLI down
                self.warnings.append(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc!r}")
        unknown = sorted(allow - {ep.name for ep in eps}) if allow is not None else []
        if unknown:
            # A typo here silently leaves a model out, which then reads as "unknown model" in every spec.
            self.warnings.append(f"PHOTOGPT_BATCH_PLUGINS names {', '.join(map(repr, unknown))}, which no "
                                 f"installed plugin is called; installed: {', '.join(sorted({ep.name for ep in eps}))}")

    def unknown_hooks(self) -> list[str]:
        """A warning for each hook implementation whose name is no hook, naming its plugin.

        pluggy accepts such an implementation at registration (a spec may come later) and never calls it, so a
        misspelt ``register_models`` would silently register nothing. ``check_pending`` finds them; it stops at
        the first, so when it fails every hook is walked to name them all.
        """
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError:
            pass
        else:
            return []
        specs = sorted(name for name in vars(hookspecs) if getattr(getattr(hookspecs, name), "photogpt_batch_spec",
                                                                    None) is not None)
        found = []
        for name, caller in sorted(vars(self.manager.hook).items()):
            if name.startswith("_") or not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook:
                    continue
                close = difflib.get_close_matches(name, specs, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"the hooks are {', '.join(specs)}"
                found.append(f"plugin {impl.plugin_name!r} implements {name!r}, which is not a "
                             f"photogpt-batch hook, so it is never called; {hint}")
        return found


def make_plugin_host(
    load_entry_points: bool = True, extra: Iterable[object] = (), builtin_only: bool = False
) -> PluginHost:
    """A plugin host with the hook specs, the entry-point plugins and ``extra`` plugin objects.

    ``builtin_only`` keeps only the entry points this distribution declares (for the committed schemas).
    """
    host = PluginHost()
    if load_entry_points:
        host.load_entry_points(builtin_only)
    for plugin in extra:
        host.register(plugin)
    return host


def pm_warnings(host: PluginHost) -> list[str]:
    """Warnings collected while loading plugins into ``host`` (kept for callers of the old name)."""
    return host.warnings


def build_registry(host: PluginHost) -> Registry:
    """Call every plugin's ``register_models`` and collect the models, one plugin at a time.

    Each plugin is called on its own so that one raising, or registering something that is not a Model,
    costs only that plugin. The registry's warnings are the host's, then those about misnamed hooks, then
    those met while registering.
    """
    registry = Registry(warnings=[*host.warnings, *host.unknown_hooks()])
    registry.sources = {name: PluginSource(name, plugin_module(plugin), host.distributions.get(name))
                        for name, plugin in host.manager.list_name_plugin() if plugin is not None}
    for impl in host.hook.register_models.get_hookimpls():
        name = host.plugin_name(impl.plugin)

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

        host.trace(f"calling register_models of plugin {name!r}")
        before = set(registry.models)
        try:
            impl.function(register=register)
        except Exception as exc:
            registry.warnings.append(f"plugin {name!r} failed in register_models: {exc!r}")
        added = [model_id for model_id in registry.models if model_id not in before]
        host.trace(f"plugin {name!r} registered {', '.join(added) or 'nothing'}")
    for model in registry.models.values():
        _ask_price_options(host, registry, model)
    return registry


def _ask_price_options(host: PluginHost, registry: Registry, model: Model) -> None:
    """Record which options of ``model`` can change its price: the first plugin (in pluggy's calling order)
    that answers other than None decides. A plugin that fails, or names options the model does not have,
    costs a warning; a model nobody answers for keeps the default (all of its options)."""
    for impl in reversed(host.hook.price_options.get_hookimpls()):
        name = host.plugin_name(impl.plugin)
        try:
            answer: Any = impl.function(model=model)
        except Exception as exc:
            registry.warnings.append(f"plugin {name!r} failed in price_options for model {model.id!r}: {exc!r}")
            continue
        if answer is None:
            continue
        try:
            names = frozenset([answer] if isinstance(answer, str) else (str(n) for n in answer))
        except TypeError:
            registry.warnings.append(f"plugin {name!r}: price_options for {model.id!r} must return option names "
                                     f"or None, not {type(answer).__name__}")
            continue
        unknown = sorted(names - set(model.options))
        if unknown:
            registry.warnings.append(f"plugin {name!r} names price options {model.id!r} does not have: "
                                     f"{', '.join(unknown)}; ignored")
        registry.price_options[model.id] = names & frozenset(model.options)
        host.trace(f"plugin {name!r} says the price of {model.id} depends on "
                   f"{', '.join(sorted(registry.price_options[model.id])) or 'none of its options'}")
        return


_default: Registry | None = None


def get_registry() -> Registry:
    """The registry of the installed plugins, built once per process."""
    global _default
    if _default is None:
        _default = build_registry(make_plugin_host())
    return _default
