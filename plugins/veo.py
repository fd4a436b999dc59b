"""Veo 3.1 and Veo 3.1 Fast: one option surface, sent as ``options.veo``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from photogpt_batch import Model, Problem, hookimpl
from photogpt_batch.models import Job

from ._common import SEED, USE_ASPECT_RATIO, one_first_and_last_frame, option, rejected_options

#: The duration Veo requires when a reference_image is used.
REFERENCE_IMAGE_DURATION = 8

OPTIONS = {
    "aspectRatio": option("string", "16:9 or 9:16. Defaults to 16:9.", enum=["16:9", "9:16"], default="16:9"),
    "duration": option(
        "integer",
        "4, 6 or 8. Defaults to 8; must be 8 when using reference_image.",
        enum=[4, 6, 8],
        default=REFERENCE_IMAGE_DURATION,
    ),
    "resolution": option(
        "string", "720p or 1080p. Defaults to 720p.", enum=["720p", "1080p"], default="720p"
    ),
    "enhancePrompt": option("boolean", "Whether Veo enhances the prompt. Defaults to true.", default=True),
    "generateAudio": option("boolean", "Whether to generate audio. Defaults to false.", default=False),
    "negativePrompt": option("string", "Text describing what to avoid."),
    "seed": SEED,
}


def duration_8_with_reference_image(job: Job, model: Model) -> Iterator[Problem]:
    """Veo's duration must be 8 when any reference image has the role ``reference_image``.

    The default counts: a job that does not write ``duration`` gets the model's default. The problem points
    at ``options.duration`` when the job wrote it, else at the first ``reference_image``.
    """
    images = job.get("referenceImages") or []
    first = next((i for i, image in enumerate(images) if image.get("role") == "reference_image"), None)
    duration = model.option(job, "duration")
    if first is None or duration == REFERENCE_IMAGE_DURATION:
        return
    hint = f"set duration: {REFERENCE_IMAGE_DURATION}, or give the image the role first_frame or last_frame"
    if "duration" in (job.get("options") or {}):
        yield Problem(
            ("options", "duration"),
            f"duration must be {REFERENCE_IMAGE_DURATION} when using reference_image "
            f"(referenceImages[{first}]); this job has {duration}",
            hint=hint,
        )
    else:
        yield Problem(
            ("referenceImages", first),
            f"reference_image needs duration {REFERENCE_IMAGE_DURATION}, but {model.id}'s default duration "
            f"is {duration}",
            hint=hint,
        )


def _veo(model_id: str, description: str) -> Model:
    return Model(
        id=model_id,
        family="veo",
        option_group="veo",
        description=description,
        options=OPTIONS,
        rejected_options=rejected_options(model_id, OPTIONS, {"ratio": USE_ASPECT_RATIO}),
        rules=(one_first_and_last_frame, duration_8_with_reference_image),
    )


#: What can change a Veo job's price: length, resolution and audio (a seed, a ratio or a prompt switch cannot).
PRICE_OPTIONS = ("duration", "resolution", "generateAudio")

MODELS = (
    _veo("veo-3.1", "Veo 3.1: high-quality text-to-video or image-to-video."),
    _veo("veo-3.1-fast", "Veo 3.1 Fast: the Veo option surface with faster turnaround."),
)


@hookimpl
def register_models(register: Callable[[Model], None]) -> None:
    """Register veo-3.1 and veo-3.1-fast."""
    for model in MODELS:
        register(model)


@hookimpl
def price_options(model: Model) -> tuple[str, ...] | None:
    """Veo's price depends on duration, resolution and audio."""
    return PRICE_OPTIONS if model.id in {m.id for m in MODELS} else None
