"""The pluggy hook specifications of photogpt-batch: the public API for plugin authors.

A plugin is a module (or object) with functions marked ``@hookimpl``, published through the
``photogpt_batch`` entry-point group::

    # pyproject.toml of a plugin package
    [project.entry-points.photogpt_batch]
    acme = "acme_video_plugin"

    # acme_video_plugin.py
    from photogpt_batch import Model, hookimpl

    @hookimpl
    def register_models(register):
        register(Model(id="acme-1", family="acme", option_group="acme", description="...", options={...}))

The built-in families (Veo, Seedance, Kling video, Kling motion, Grok) are plugins of exactly this kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .models import Model

PROJECT_NAME = "photogpt_batch"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_models(register: Callable[[Model], None]) -> None:
    """Register the models this plugin provides.

    Called once, when the registry is first needed (``validate``, ``plan``, ``run``, ``models``, ``schema``).
    Call ``register(model)`` once per `photogpt_batch.models.Model`. A model id registered twice gets a
    warning that names both plugins; the first registration is kept (built-ins register first).

    A model's rules and ``build_request`` see a job without its ``id`` and with a stand-in ``prompt``: each
    distinct job shape is checked once, however many matrix jobs share it. Rules must not depend on either.
    """


@hookspec(firstresult=True)
def price_options(model: Model) -> Iterable[str] | None:
    """Name the options of ``model`` that can change what a job costs (its *price-relevant* options).

    Called once per registered model, after every plugin's ``register_models``; the first answer that is not
    ``None`` is kept, so a plugin answers for its own models and returns ``None`` for the others. A model no
    plugin answers for has every option price-relevant (the safe default: more, smaller price classes).

    A job's *price class* is its model, the values of these options (a value left out counts as the option's
    documented default) and its reference inputs (how many images per role, videos and elements). Estimates
    (``plan``, the question before paying, budgets) are learned per class from the credits paid, per video:
    ``numVideos`` multiplies the price and is never part of the class. Name an option only if two jobs that
    differ in it alone can cost different amounts: a seed or a prompt switch costs nothing, a duration does.
    """
