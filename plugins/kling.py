"""Kling video and Kling motion (standard and pro tiers of each), all sent as ``options.kling``.

The two families share the option group and the limit of 4 elements and references together; their options
differ entirely: video takes duration, aspectRatio and generateAudio, motion takes characterOrientation and
keepOriginalSound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from photogpt_batch import Model, Problem, hookimpl
from photogpt_batch.models import Job

from ._common import USE_ASPECT_RATIO, one_first_and_last_frame, option, rejected_options

#: How many elements, reference images and reference videos a Kling job takes together.
MAX_ELEMENTS_AND_REFERENCES = 4

VIDEO_OPTIONS = {
    "duration": option("integer", "3 to 15. Defaults to 10.", minimum=3, maximum=15, default=10),
    "aspectRatio": option(
        "string",
        "16:9, 9:16 or 1:1. Text-to-video only; ignored for image-to-video or elements.",
        enum=["16:9", "9:16", "1:1"],
    ),
    "generateAudio": option("boolean", "Whether to generate audio. Defaults to false.", default=False),
}

MOTION_OPTIONS = {
    "characterOrientation": option(
        "string", "image or video. Defaults to video.", enum=["image", "video"], default="video"
    ),
    "keepOriginalSound": option(
        "boolean", "Whether to keep the original sound. Defaults to true.", default=True
    ),
}

_NOT_ON_MOTION = "Kling motion-control models do not accept duration, aspectRatio or generateAudio"
_VIDEO_REASONS = {"ratio": USE_ASPECT_RATIO}
_MOTION_REASONS = {
    "duration": _NOT_ON_MOTION,
    "aspectRatio": _NOT_ON_MOTION,
    "generateAudio": _NOT_ON_MOTION,
    "ratio": "Kling motion-control models take no aspect ratio (nor duration or generateAudio)",
}


def at_most_4_elements_and_references(job: Job, model: Model) -> Iterator[Problem]:
    """At most 4 items across ``elementIDs``, ``referenceImages`` and ``referenceVideos``, counted in that
    order: an error on the 5th item and each after it."""
    items = [
        (key, index)
        for key in ("elementIDs", "referenceImages", "referenceVideos")
        for index in range(len(job.get(key) or []))
    ]
    message = (
        f"Kling accepts at most {MAX_ELEMENTS_AND_REFERENCES} elements and references together "
        f"(this job has {len(items)})"
    )
    hint = f"remove elements or references until there are {MAX_ELEMENTS_AND_REFERENCES} in total"
    for path in items[MAX_ELEMENTS_AND_REFERENCES:]:
        yield Problem(path, message, hint=hint)


def aspect_ratio_ignored_with_image_or_elements(job: Job, model: Model) -> Iterator[Problem]:
    """aspectRatio is text-to-video only: with reference images or elements it is ignored, so not sent."""
    if "aspectRatio" not in (job.get("options") or {}):
        return
    inputs = [key for key in ("referenceImages", "elementIDs") if job.get(key)]
    if inputs:
        yield Problem(
            ("options", "aspectRatio"),
            f"aspectRatio is text-to-video only: Kling ignores it with {' and '.join(inputs)}, "
            "so it is not sent",
            severity="warning",
            hint="remove aspectRatio: it only applies to text-to-video",
            drop=True,
        )


def _kling(
    model_id: str,
    family: str,
    description: str,
    options: dict[str, dict[str, Any]],
    reasons: dict[str, str],
    **capabilities: Any,
) -> Model:
    return Model(
        id=model_id,
        family=family,
        option_group="kling",
        description=description,
        options=options,
        rejected_options=rejected_options(model_id, options, reasons),
        **capabilities,
    )


_VIDEO_RULES = (
    one_first_and_last_frame,
    at_most_4_elements_and_references,
    aspect_ratio_ignored_with_image_or_elements,
)
_MOTION_RULES = (one_first_and_last_frame, at_most_4_elements_and_references)

# 4 reference videos: the limit of 4 elements and references together caps them anyway.
_MOTION = {"max_reference_videos": MAX_ELEMENTS_AND_REFERENCES, "rules": _MOTION_RULES}

#: What can change a Kling job's price: length and audio (Kling motion has neither: its inputs set the price).
PRICE_OPTIONS = ("duration", "generateAudio")

MODELS = (
    _kling(
        "kling-video-standard",
        "kling-video",
        "Kling Video Standard: text-to-video or image-to-video.",
        VIDEO_OPTIONS,
        _VIDEO_REASONS,
        rules=_VIDEO_RULES,
    ),
    _kling(
        "kling-video-pro",
        "kling-video",
        "Kling Video Pro: the higher-capability Kling video model.",
        VIDEO_OPTIONS,
        _VIDEO_REASONS,
        rules=_VIDEO_RULES,
    ),
    _kling(
        "kling-motion-standard",
        "kling-motion",
        "Kling Motion Standard: motion control from existing visual elements or references.",
        MOTION_OPTIONS,
        _MOTION_REASONS,
        **_MOTION,
    ),
    _kling(
        "kling-motion-pro",
        "kling-motion",
        "Kling Motion Pro: the higher-capability Kling motion-control model.",
        MOTION_OPTIONS,
        _MOTION_REASONS,
        **_MOTION,
    ),
)


@hookimpl
def register_models(register: Callable[[Model], None]) -> None:
    """Register the Kling video and Kling motion models, standard and pro."""
    for model in MODELS:
        register(model)


@hookimpl
def price_options(model: Model) -> tuple[str, ...] | None:
    """Kling video's price depends on duration and audio; Kling motion's on none of its options (its reference
    inputs, always part of a price class, set it)."""
    return tuple(o for o in PRICE_OPTIONS if o in model.options) if model.id in {m.id for m in MODELS} else None
