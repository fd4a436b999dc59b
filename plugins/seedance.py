"""Seedance 1.5 Pro and Seedance 2.0, sent as ``options.seedance``.

The two share every option but ``duration`` (auto or 4..12 on 1.5, 4..15 on 2.0) and ``draftMode`` (1.5 only);
what they do with reference images differs: 1.5 drops ``reference_image`` inputs, 2.0 takes up to 9.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from photogpt_batch import Model, Problem, hookimpl
from photogpt_batch.models import Job

from ._common import SEED, one_first_and_last_frame, option, rejected_options

#: The resolution draft mode forces.
DRAFT_RESOLUTION = "480p"
#: How many reference_image inputs seedance-2.0 takes.
MAX_REFERENCE_IMAGES = 9
#: How many reference videos seedance-2.0 takes.
MAX_REFERENCE_VIDEOS = 3

RESOLUTION = option("string", "480p, 720p or 1080p.", enum=["480p", "720p", "1080p"])
RATIO = option(
    "string",
    "Aspect ratio: 16:9, 4:3, 1:1, 3:4, 9:16, 21:9 or adaptive.",
    enum=["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"],
)
GENERATE_AUDIO = option("boolean", "Whether to generate audio.")
RETURN_LAST_FRAME = option("boolean", "Whether to return the last frame of the video as well.")

OPTIONS_1_5 = {
    "resolution": {**RESOLUTION, "description": "480p, 720p or 1080p. Draft mode forces 480p."},
    "ratio": RATIO,
    # An explicit list rather than anyOf: the error then names every allowed value in one line.
    "duration": option("integer", "-1 for auto, or 4 to 12.", enum=[-1, *range(4, 13)]),
    "draftMode": option("boolean", "Draft mode. Only supported by seedance-1.5-pro; forces 480p."),
    "generateAudio": GENERATE_AUDIO,
    "returnLastFrame": RETURN_LAST_FRAME,
    "seed": SEED,
}

OPTIONS_2_0 = {
    "resolution": RESOLUTION,
    "ratio": RATIO,
    "duration": option("integer", "4 to 15.", minimum=4, maximum=15),
    "generateAudio": GENERATE_AUDIO,
    "returnLastFrame": RETURN_LAST_FRAME,
    "seed": SEED,
}

#: Seedance calls it ratio; the other families call it aspectRatio.
_REASONS = {"aspectRatio": "Seedance's option is ratio (aspectRatio is the Veo, Kling and Grok name)"}


def reference_images_dropped(job: Job, model: Model) -> Iterator[Problem]:
    """seedance-1.5-pro drops ``reference_image`` inputs: a warning on each, and it is not sent."""
    for index, image in enumerate(job.get("referenceImages") or []):
        if image.get("role") == "reference_image":
            yield Problem(
                ("referenceImages", index),
                f"{model.id} drops reference_image inputs: this image is not sent",
                severity="warning",
                hint="use seedance-2.0 for reference images, or make this image a first_frame or last_frame",
                drop=True,
            )


def draft_mode_forces_480p(job: Job, model: Model) -> Iterator[Problem]:
    """With ``draftMode: true`` a resolution other than 480p is not sent: a warning says so."""
    resolution = model.option(job, "resolution")
    if model.option(job, "draftMode") is True and resolution not in (None, DRAFT_RESOLUTION):
        yield Problem(
            ("options", "resolution"),
            f"draftMode forces {DRAFT_RESOLUTION}: resolution {resolution} is not sent",
            severity="warning",
            hint=f"remove resolution, set it to {DRAFT_RESOLUTION}, or turn draftMode off",
            drop=True,
        )


def at_most_9_reference_images(job: Job, model: Model) -> Iterator[Problem]:
    """seedance-2.0 takes up to 9 ``reference_image`` inputs: an error on the 10th and each after it."""
    count = 0
    for index, image in enumerate(job.get("referenceImages") or []):
        if image.get("role") != "reference_image":
            continue
        count += 1
        if count > MAX_REFERENCE_IMAGES:
            yield Problem(
                ("referenceImages", index),
                f"{model.id} takes at most {MAX_REFERENCE_IMAGES} reference_image inputs; "
                f"this is reference_image number {count}",
                hint=f"remove the reference images after the {MAX_REFERENCE_IMAGES}th",
            )


def _seedance(
    model_id: str, description: str, options: dict[str, dict[str, Any]], **capabilities: Any
) -> Model:
    return Model(
        id=model_id,
        family="seedance",
        option_group="seedance",
        description=description,
        options=options,
        rejected_options=rejected_options(model_id, options, _REASONS),
        **capabilities,
    )


#: What can change a Seedance job's price: length, resolution, draft mode and audio.
PRICE_OPTIONS = ("duration", "resolution", "draftMode", "generateAudio")

MODELS = (
    _seedance(
        "seedance-1.5-pro",
        "Seedance 1.5 Pro: Seedance generation with draft mode or automatic duration.",
        OPTIONS_1_5,
        rules=(one_first_and_last_frame, reference_images_dropped, draft_mode_forces_480p),
    ),
    _seedance(
        "seedance-2.0",
        "Seedance 2.0: Seedance jobs that need image or video references.",
        OPTIONS_2_0,
        max_reference_videos=MAX_REFERENCE_VIDEOS,
        rules=(one_first_and_last_frame, at_most_9_reference_images),
    ),
)


@hookimpl
def register_models(register: Callable[[Model], None]) -> None:
    """Register seedance-1.5-pro and seedance-2.0."""
    for model in MODELS:
        register(model)


@hookimpl
def price_options(model: Model) -> tuple[str, ...] | None:
    """Seedance's price depends on duration, resolution, draft mode and audio (each model has those it has)."""
    return tuple(o for o in PRICE_OPTIONS if o in model.options) if model.id in {m.id for m in MODELS} else None
