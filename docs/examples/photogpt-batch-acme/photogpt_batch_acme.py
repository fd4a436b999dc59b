"""photogpt-batch plugin: the Acme motion model."""

from collections.abc import Callable, Iterator

from photogpt_batch import Model, Problem, hookimpl
from photogpt_batch.models import Job

#: One JSON Schema per option: it validates the spec, feeds `photogpt-batch schema` (editor completion)
#: and documents the option. Defaults are the server's; they are never sent for you.
OPTIONS = {
    "duration": {
        "type": "integer", "minimum": 2, "maximum": 10, "default": 5,
        "description": "2 to 10. Defaults to 5.",
    },
    "style": {"type": "string", "enum": ["photo", "anime"], "description": "photo or anime."},
    "loop": {"type": "boolean", "default": False, "description": "Make the video loop. At most 6 seconds."},
}


def loop_at_most_6_seconds(job: Job, model: Model) -> Iterator[Problem]:
    """A looping video is at most 6 seconds long."""
    # The job already passed the schema: types and ranges hold. model.option() falls back to the default.
    duration = model.option(job, "duration")
    if model.option(job, "loop") is True and duration > 6:
        yield Problem(
            ("options", "duration"),  # a path inside the job: the error points at this line of the YAML
            f"loop needs a duration of at most 6; this job has {duration}",
            hint="shorten the video or set loop: false",
        )


ACME_MOTION = Model(
    id="acme-motion-1",
    family="acme",
    option_group="acme",  # the key the API documents under `options`
    description="Acme Motion 1: looping product shots.",
    options=OPTIONS,
    # Names users bring from other models get a reason instead of "unknown key".
    rejected_options={"aspectRatio": "acme-motion-1 always renders 16:9"},
    image_roles=("first_frame",),  # only first-frame images; () would refuse referenceImages
    max_reference_videos=0,
    accepts_element_ids=False,
    rules=(loop_at_most_6_seconds,),
)


@hookimpl
def register_models(register: Callable[[Model], None]) -> None:
    """Register the Acme models."""
    register(ACME_MOTION)
