"""What the built-in families share: option declarations, rejected-option reasons and the frame rule."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from photogpt_batch import Model, Problem
from photogpt_batch.models import Job

#: Every option name some built-in model takes. A job written for one model and moved to another (a matrix
#: over models, options shared through ``defaults``) meets these, so every model explains the ones it lacks
#: instead of answering "unknown key".
BUILTIN_OPTION_NAMES = (
    "aspectRatio",
    "ratio",
    "duration",
    "resolution",
    "draftMode",
    "enhancePrompt",
    "generateAudio",
    "returnLastFrame",
    "negativePrompt",
    "seed",
    "characterOrientation",
    "keepOriginalSound",
)

#: Reasons that hold for every model not taking the option, in the guide's words where it has them.
_REASONS = {
    "draftMode": "draftMode is only supported by seedance-1.5-pro",
    "characterOrientation": "characterOrientation is only taken by the Kling motion-control models "
    "(kling-motion-standard, kling-motion-pro)",
    "keepOriginalSound": "keepOriginalSound is only taken by the Kling motion-control models "
    "(kling-motion-standard, kling-motion-pro)",
}

#: The reason given for ``ratio`` on models whose option is ``aspectRatio``.
USE_ASPECT_RATIO = "this model's option is aspectRatio (ratio is the Seedance name)"


def option(
    type_: str,
    description: str,
    *,
    enum: list[Any] | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
    default: Any = None,
) -> dict[str, Any]:
    """The JSON Schema of one option value; keys left as None are left out."""
    schema: dict[str, Any] = {"type": type_, "description": description}
    for key, value in (("enum", enum), ("minimum", minimum), ("maximum", maximum), ("default", default)):
        if value is not None:
            schema[key] = value
    return schema


SEED = option("integer", "Integer for repeatable outputs.")


def rejected_options(model_id: str, options: Mapping[str, Any], reasons: Mapping[str, str]) -> dict[str, str]:
    """The ``rejected_options`` of a model: every built-in option name it does not take, with a reason.

    ``reasons`` gives the family's own wording (``ratio`` on Veo); other names get a shared reason, or one
    that lists what the model does take.
    """
    own = ", ".join(options)
    rejected = {
        name: _REASONS.get(name, f"{model_id} takes only these options: {own}")
        for name in BUILTIN_OPTION_NAMES
        if name not in options
    }
    rejected.update(reasons)
    return rejected


def one_first_and_last_frame(job: Job, model: Model) -> Iterator[Problem]:
    """At most one ``first_frame`` and one ``last_frame`` image: an error on each extra one."""
    first_seen: dict[str, int] = {}
    for index, image in enumerate(job.get("referenceImages") or []):
        role = image.get("role")
        if role not in ("first_frame", "last_frame"):
            continue
        if role not in first_seen:
            first_seen[role] = index
            continue
        yield Problem(
            ("referenceImages", index),
            f"a job takes at most one {role} image; referenceImages[{first_seen[role]}] is already "
            f"the {role}",
            hint=f"keep one {role}: remove this image or change its role",
        )
