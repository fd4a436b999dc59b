"""Grok Imagine 1.5, sent as ``options.grok``: its ranges are all the schema's."""

from __future__ import annotations

from collections.abc import Callable

from photogpt_batch import Model, hookimpl

from ._common import USE_ASPECT_RATIO, one_first_and_last_frame, option, rejected_options

OPTIONS = {
    "duration": option("integer", "1 to 15. Defaults to 8.", minimum=1, maximum=15, default=8),
    "aspectRatio": option(
        "string",
        "1:1, 16:9, 9:16, 4:3, 3:4, 3:2 or 2:3. Defaults to 16:9.",
        enum=["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"],
        default="16:9",
    ),
    "resolution": option("string", "480p or 720p. Defaults to 480p.", enum=["480p", "720p"], default="480p"),
}

#: What can change a Grok job's price: length and resolution.
PRICE_OPTIONS = ("duration", "resolution")

MODELS = (
    Model(
        id="grok-imagine-1.5",
        family="grok",
        option_group="grok",
        description="Grok Imagine 1.5: Grok video generation.",
        options=OPTIONS,
        rejected_options=rejected_options("grok-imagine-1.5", OPTIONS, {"ratio": USE_ASPECT_RATIO}),
        rules=(one_first_and_last_frame,),
    ),
)


@hookimpl
def register_models(register: Callable[[Model], None]) -> None:
    """Register grok-imagine-1.5."""
    for model in MODELS:
        register(model)


@hookimpl
def price_options(model: Model) -> tuple[str, ...] | None:
    """Grok's price depends on duration and resolution."""
    return PRICE_OPTIONS if model.id in {m.id for m in MODELS} else None
