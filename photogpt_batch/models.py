"""What a model plugin declares: a `Model`, its options as JSON Schema, its rules, and its request body.

A job, as plugins see it, is the expanded spec entry as a plain dict with the spec's key names:
``id``, ``model``, ``prompt``, and optionally ``numVideos``, ``referenceImages`` (``[{url, role}]``),
``referenceVideos`` (``[{url, role}]``), ``elementIDs`` and ``options`` (flat: the model's own option
names). By the time a rule or `Model.build_request` sees a job it has passed the model's JSON Schema, so
types, enums and ranges already hold; rules check what a schema cannot say well (cross-field rules).

A rule reports `Problem`s whose ``path`` is a path inside that dict (``("options", "duration")``,
``("referenceImages", 2)``), so the validator can point at the exact line and column in the YAML file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

JsonPath = tuple[str | int, ...]
Job = dict[str, Any]

#: Roles a reference image may have, per the vendor guide.
IMAGE_ROLES = ("first_frame", "last_frame", "reference_image")
#: The only role a reference video has.
VIDEO_ROLES = ("reference_video",)


@dataclass(frozen=True)
class Problem:
    """One finding about a job: an error (the job is invalid) or a warning (valid, but said out loud).

    ``drop=True`` on a warning means the value at ``path`` is valid in the spec but is not sent: the
    vendor guide says the server drops or ignores it, so the request body leaves it out.
    """

    path: JsonPath
    message: str
    severity: Literal["error", "warning"] = "error"
    hint: str | None = None
    drop: bool = False


Rule = Callable[[Job, "Model"], Iterable[Problem]]


@dataclass(frozen=True)
class Model:
    """A model a plugin registers.

    Attributes:
        id: the public modelID (``veo-3.1``).
        family: a short family name (``veo``, ``kling-motion``); shown by ``models``.
        option_group: the key under ``options`` in the request body (``veo``, ``seedance``, ``kling``, ``grok``).
        description: one line for ``models`` and the generated schema.
        options: option name -> JSON Schema of its value (type, enum, minimum/maximum, default, description).
        rejected_options: option names this model does not take, with the reason to show (``duration`` on
            Kling motion), so the error explains instead of just saying "unknown key".
        image_roles: roles accepted in ``referenceImages``; empty means the model takes no reference images.
        max_reference_videos: how many ``referenceVideos`` it takes (0: none).
        accepts_element_ids: whether ``elementIDs`` may be given.
        rules: cross-field rules, each ``rule(job, model) -> Problems``.
        plugin: the name of the plugin that registered it (filled in by the registry).
    """

    id: str
    family: str
    option_group: str
    description: str
    options: Mapping[str, Mapping[str, Any]]
    rejected_options: Mapping[str, str] = field(default_factory=dict)
    image_roles: tuple[str, ...] = IMAGE_ROLES
    max_reference_videos: int = 0
    accepts_element_ids: bool = True
    rules: tuple[Rule, ...] = ()
    plugin: str = ""

    def options_schema(self) -> dict[str, Any]:
        """The JSON Schema of this model's flat ``options`` mapping."""
        return {
            "type": "object",
            "description": f"Options of {self.id}, flat: they are sent as options.{self.option_group}.",
            "properties": {name: dict(schema) for name, schema in self.options.items()},
            "additionalProperties": False,
        }

    def job_schema(self) -> dict[str, Any]:
        """The JSON Schema of one expanded job for this model (what `validate` checks before the rules)."""
        # asset:sha256:...: a local file by content (a spec's `file:`); output:...: another job's output (a spec's
        # `from:`); both replaced by a signed URL when sent
        url = {"type": "string", "pattern": "^(https?://|asset:sha256:|output:)",
               "description": "An http(s) URL the server can fetch."}
        props: dict[str, Any] = {
            "id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$"},
            "model": {"const": self.id},
            "prompt": {"type": "string", "minLength": 1, "description": "Text describing the video."},
            "numVideos": {"type": "integer", "minimum": 1, "default": 1,
                          "description": "Number of videos to generate."},
            "options": self.options_schema(),
        }
        if self.image_roles:
            props["referenceImages"] = {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"url": url, "role": {"enum": list(self.image_roles)}},
                    "required": ["url", "role"],
                    "additionalProperties": False,
                },
            }
        if self.max_reference_videos:
            props["referenceVideos"] = {
                "type": "array",
                "maxItems": self.max_reference_videos,
                "items": {
                    "type": "object",
                    "properties": {"url": url, "role": {"enum": list(VIDEO_ROLES), "default": "reference_video"}},
                    "required": ["url"],
                    "additionalProperties": False,
                },
            }
        if self.accepts_element_ids:
            props["elementIDs"] = {"type": "array", "items": {"type": "string", "minLength": 1}}
        return {
            "type": "object",
            "properties": props,
            "required": ["id", "model", "prompt"],
            "additionalProperties": False,
        }

    def check(self, job: Job) -> list[Problem]:
        """Run the cross-field rules on a job that already passed `job_schema`."""
        problems: list[Problem] = []
        for rule in self.rules:
            problems.extend(rule(job, self))
        return problems

    def option(self, job: Job, name: str) -> Any:
        """The value of option ``name`` for ``job``: the job's own, else the model's documented default."""
        opts = job.get("options") or {}
        if name in opts:
            return opts[name]
        return self.options.get(name, {}).get("default")

    def build_request(self, job: Job, problems: Iterable[Problem] = ()) -> dict[str, Any]:
        """Turn a valid job into the exact ``POST /videos/generation`` body.

        Only the model's own option group is sent, values that ``problems`` mark ``drop`` are left out,
        backend-only fields are never sent, and defaults the user did not write are not invented: the
        server applies its own. ``job`` is not modified (expanded jobs share unchanged parts).
        """
        dropped = {p.path for p in problems if p.drop}
        body: dict[str, Any] = {"modelID": self.id, "prompt": job["prompt"]}
        if "numVideos" in job:
            body["numVideos"] = job["numVideos"]
        images = [
            {"url": image["url"], "role": image["role"]}
            for i, image in enumerate(job.get("referenceImages") or [])
            if ("referenceImages", i) not in dropped
        ]
        if images:
            body["referenceImages"] = images
        videos = [
            {"url": video["url"], "role": "reference_video"}
            for i, video in enumerate(job.get("referenceVideos") or [])
            if ("referenceVideos", i) not in dropped
        ]
        if videos:
            body["referenceVideos"] = videos
        elements = [e for i, e in enumerate(job.get("elementIDs") or []) if ("elementIDs", i) not in dropped]
        if elements:
            body["elementIDs"] = elements
        options = {k: v for k, v in (job.get("options") or {}).items() if ("options", k) not in dropped}
        if options:
            body["options"] = {self.option_group: options}
        return body
