"""Validation of ``POST /videos/generation`` bodies, written from the vendor's video guide on its own.

This module deliberately shares nothing with the client's validation: the sandbox is the other side of the
wire, and a double that reused the code under test could not catch its mistakes. Where the guide is silent,
the project's policy (docs/sandbox.md, "Policy where the guide is silent") decides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MODEL_GROUPS: dict[str, str] = {
    "veo-3.1": "veo",
    "veo-3.1-fast": "veo",
    "seedance-1.5-pro": "seedance",
    "seedance-2.0": "seedance",
    "kling-video-standard": "kling",
    "kling-video-pro": "kling",
    "kling-motion-standard": "kling",
    "kling-motion-pro": "kling",
    "grok-imagine-1.5": "grok",
}

KLING_MOTION = frozenset({"kling-motion-standard", "kling-motion-pro"})
KLING_VIDEO = frozenset({"kling-video-standard", "kling-video-pro"})
TAKES_REFERENCE_VIDEOS = frozenset({"seedance-2.0", *KLING_MOTION})

IMAGE_ROLES = ("first_frame", "last_frame", "reference_image")
VIDEO_ROLE = "reference_video"
TOP_LEVEL_FIELDS = (
    "modelID",
    "prompt",
    "numVideos",
    "referenceImages",
    "referenceVideos",
    "elementIDs",
    "options",
)

SEEDANCE_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
GROK_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3")

# The duration (seconds) a model renders when none is given; seedance's is not documented (policy: 5 s, and
# "auto" (-1) bills as 5 s too). Kling motion takes no duration: it bills a flat 10 s.
DEFAULT_SECONDS: dict[str, int] = {
    "veo-3.1": 8,
    "veo-3.1-fast": 8,
    "seedance-1.5-pro": 5,
    "seedance-2.0": 5,
    "kling-video-standard": 10,
    "kling-video-pro": 10,
    "kling-motion-standard": 10,
    "kling-motion-pro": 10,
    "grok-imagine-1.5": 8,
}


# What an accepted model (--accept-model) bills per job when its options give no duration.
ACCEPTED_DEFAULT_SECONDS = 8
#: An option group's name, as a JSON key that reads well in ``options.<group>``.
GROUP_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def parse_accepted_model(text: str) -> tuple[str, str]:
    """``ID:GROUP`` (``acme-video-1:acme``) as (model id, option group); ValueError saying what is wrong."""
    model, sep, group = text.rpartition(":")
    model, group = model.strip(), group.strip()
    if not sep or not model or not group:
        raise ValueError(f"expected ID:GROUP (a model id and its option group, e.g. acme-video-1:acme), got {text!r}")
    if not GROUP_NAME.match(group):
        raise ValueError(f"option group {group!r} must be lower-case letters, digits and _ (as in options.veo)")
    if model in MODEL_GROUPS:
        raise ValueError(f"{model} is a model the sandbox knows (option group {MODEL_GROUPS[model]}): "
                         "--accept-model is for models it does not know")
    return model, group


class RequestInvalid(Exception):
    """A request body the real server would reject with 400; ``message`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Generation:
    """What the sandbox needs from a valid request: the model, how many videos, and what to bill."""

    model_id: str
    num_videos: int
    seconds: int
    return_last_frame: bool
    resolution: str | None


# ---- small type checks; each raises RequestInvalid naming the field --------------------------------------


def _is_int(value: Any) -> bool:
    # bool is a subclass of int in Python, but true/false are not integers in JSON.
    return isinstance(value, int) and not isinstance(value, bool)


def _need_int(path: str, value: Any) -> int:
    if not _is_int(value):
        raise RequestInvalid(path, f"{path} must be an integer, got {_show(value)}")
    return value


def _need_bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise RequestInvalid(path, f"{path} must be a boolean (true or false), got {_show(value)}")
    return value


def _need_str(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise RequestInvalid(path, f"{path} must be a string, got {_show(value)}")
    return value


def _need_enum(path: str, value: Any, allowed: tuple[Any, ...]) -> Any:
    if isinstance(value, bool) or value not in allowed:
        raise RequestInvalid(
            path, f"{path} must be one of {', '.join(map(str, allowed))}, got {_show(value)}"
        )
    return value


def _need_range(path: str, value: Any, low: int, high: int, also: tuple[int, ...] = ()) -> int:
    number = _need_int(path, value)
    if number in also or low <= number <= high:
        return number
    extra = "".join(f" or {v}" for v in also)
    raise RequestInvalid(path, f"{path} must be between {low} and {high}{extra}, got {number}")


def _need_object(path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestInvalid(path, f"{path} must be an object, got {_show(value)}")
    return value


def _need_list(path: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise RequestInvalid(path, f"{path} must be a list, got {_show(value)}")
    return value


def _need_url(path: str, value: Any) -> str:
    url = _need_str(path, value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RequestInvalid(path, f"{path} must be an http(s) URL, got {_show(url)}")
    return url


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _no_unknown(
    path: str, obj: dict[str, Any], allowed: tuple[str, ...], backend_only: str | None = None
) -> None:
    for key in obj:
        if key in allowed:
            continue
        where = f"{path}.{key}" if path else key
        if key == backend_only:
            raise RequestInvalid(
                where, f"{where} is backend-only metadata: the backend computes it, clients must not send it"
            )
        raise RequestInvalid(where, f"{where} is not a known field")


# ---- the request ----------------------------------------------------------------------------------------


def validate_generation(body: Any, accepted: Mapping[str, str] | None = None) -> Generation:
    """Check a decoded ``POST /videos/generation`` body; raise RequestInvalid on the first problem.

    ``accepted`` maps model ids the guide does not know to their option group (``--accept-model ID:GROUP``):
    such a model's request is checked for its envelope and its option group only, not its options' values,
    so a new plugin's campaign can be rehearsed before the real API knows what it sends.
    """
    if not isinstance(body, dict):
        raise RequestInvalid("body", f"the request body must be a JSON object, got {_show(body)}")
    _no_unknown("", body, TOP_LEVEL_FIELDS)

    if "modelID" not in body:
        raise RequestInvalid("modelID", "modelID is required")
    model = _need_str("modelID", body["modelID"])
    extra = accepted or {}
    if model not in MODEL_GROUPS and model not in extra:
        raise RequestInvalid(
            "modelID", f"modelID {model!r} is not a known model; known: {', '.join([*MODEL_GROUPS, *extra])}"
        )
    group = MODEL_GROUPS.get(model) or extra[model]

    if "prompt" not in body:
        raise RequestInvalid("prompt", "prompt is required")
    if _need_str("prompt", body["prompt"]) == "":
        raise RequestInvalid("prompt", "prompt must be a non-empty string")

    num_videos = 1
    if "numVideos" in body:
        num_videos = _need_int("numVideos", body["numVideos"])
        if num_videos < 1:
            raise RequestInvalid("numVideos", f"numVideos must be at least 1, got {num_videos}")

    images = _reference_images(body.get("referenceImages", []))
    videos = _reference_videos(model, body.get("referenceVideos", []), model in extra)
    elements = _element_ids(body.get("elementIDs", []))

    options: dict[str, Any] = {}
    if "options" in body:
        wrapper = _need_object("options", body["options"])
        others = [k for k in wrapper if k != group]
        if others:
            bad = f"options.{others[0]}"
            raise RequestInvalid(bad, f"{bad} is not accepted by {model}: send only options.{group}")
        # The guide lists options among the optional fields: an empty object is the same as none.
        options = _need_object(f"options.{group}", wrapper[group]) if group in wrapper else {}

    roles = [image["role"] for image in images]
    for role in ("first_frame", "last_frame"):
        if roles.count(role) > 1:
            raise RequestInvalid("referenceImages", f"referenceImages may hold at most one {role} image")

    if model in extra:
        return Generation(model, num_videos, _accepted_seconds(options), False, None)
    check = _FAMILY_CHECKS[group]
    seconds, resolution, last_frame = check(model, options, roles, len(videos), len(elements))
    return Generation(model, num_videos, seconds, last_frame, resolution)


def _accepted_seconds(options: dict[str, Any]) -> int:
    """Billed seconds of an accepted model's job: its ``duration`` when that is a positive integer, else 8."""
    duration = options.get("duration")
    if isinstance(duration, int) and not isinstance(duration, bool) and duration > 0:
        return duration
    return ACCEPTED_DEFAULT_SECONDS


def _reference_images(value: Any) -> list[dict[str, Any]]:
    items = _need_list("referenceImages", value)
    for i, item in enumerate(items):
        path = f"referenceImages[{i}]"
        image = _need_object(path, item)
        _no_unknown(path, image, ("url", "role"), backend_only="containsHuman")
        for key in ("url", "role"):
            if key not in image:
                raise RequestInvalid(f"{path}.{key}", f"{path}.{key} is required")
        _need_url(f"{path}.url", image["url"])
        _need_enum(f"{path}.role", image["role"], IMAGE_ROLES)
    return items


def _reference_videos(model: str, value: Any, accepted: bool = False) -> list[dict[str, Any]]:
    items = _need_list("referenceVideos", value)
    if items and model not in TAKES_REFERENCE_VIDEOS and not accepted:
        raise RequestInvalid(
            "referenceVideos",
            f"referenceVideos are not accepted by {model}; only by "
            f"{', '.join(sorted(TAKES_REFERENCE_VIDEOS))}",
        )
    for i, item in enumerate(items):
        path = f"referenceVideos[{i}]"
        video = _need_object(path, item)
        _no_unknown(path, video, ("url", "role"), backend_only="duration")
        if "url" not in video:
            raise RequestInvalid(f"{path}.url", f"{path}.url is required")
        _need_url(f"{path}.url", video["url"])
        if "role" in video:
            _need_enum(f"{path}.role", video["role"], (VIDEO_ROLE,))
    return items


def _element_ids(value: Any) -> list[str]:
    items = _need_list("elementIDs", value)
    for i, item in enumerate(items):
        if _need_str(f"elementIDs[{i}]", item) == "":
            raise RequestInvalid(f"elementIDs[{i}]", f"elementIDs[{i}] must be a non-empty string")
    return items


# ---- per-family options; each returns (billed seconds, output resolution, returnLastFrame) ---------------

_Result = tuple[int, str | None, bool]


def _veo(model: str, opts: dict[str, Any], roles: list[str], n_videos: int, n_elements: int) -> _Result:
    p = "options.veo"
    _no_unknown(
        p,
        opts,
        ("aspectRatio", "duration", "resolution", "enhancePrompt", "generateAudio", "negativePrompt", "seed"),
    )
    if "aspectRatio" in opts:
        _need_enum(f"{p}.aspectRatio", opts["aspectRatio"], ("16:9", "9:16"))
    duration = DEFAULT_SECONDS[model]
    if "duration" in opts:
        duration = _need_int(f"{p}.duration", opts["duration"])
        _need_enum(f"{p}.duration", duration, (4, 6, 8))
    resolution = (
        _need_enum(f"{p}.resolution", opts["resolution"], ("720p", "1080p"))
        if "resolution" in opts
        else "720p"
    )
    for key in ("enhancePrompt", "generateAudio"):
        if key in opts:
            _need_bool(f"{p}.{key}", opts[key])
    if "negativePrompt" in opts:
        _need_str(f"{p}.negativePrompt", opts["negativePrompt"])
    if "seed" in opts:
        _need_int(f"{p}.seed", opts["seed"])
    if "reference_image" in roles and duration != 8:
        raise RequestInvalid(
            f"{p}.duration",
            f"{p}.duration must be 8 when referenceImages include a reference_image, got {duration}",
        )
    return duration, resolution, False


def _seedance(model: str, opts: dict[str, Any], roles: list[str], n_videos: int, n_elements: int) -> _Result:
    p = "options.seedance"
    is_15 = model == "seedance-1.5-pro"
    if "draftMode" in opts and not is_15:
        raise RequestInvalid(
            f"{p}.draftMode", f"{p}.draftMode: draftMode is only supported by seedance-1.5-pro"
        )
    _no_unknown(
        p, opts, ("resolution", "ratio", "duration", "draftMode", "generateAudio", "returnLastFrame", "seed")
    )
    resolution = None
    if "resolution" in opts:
        resolution = _need_enum(f"{p}.resolution", opts["resolution"], ("480p", "720p", "1080p"))
    if "ratio" in opts:
        _need_enum(f"{p}.ratio", opts["ratio"], SEEDANCE_RATIOS)
    seconds = DEFAULT_SECONDS[model]
    if "duration" in opts:
        if is_15:
            duration = _need_range(f"{p}.duration", opts["duration"], 4, 12, also=(-1,))
        else:
            duration = _need_range(f"{p}.duration", opts["duration"], 4, 15)
        seconds = duration if duration > 0 else seconds
    # Draft mode accepts any resolution and renders 480p (guide: "Draft mode forces 480p").
    if "draftMode" in opts and _need_bool(f"{p}.draftMode", opts["draftMode"]):
        resolution = "480p"
    for key in ("generateAudio", "returnLastFrame"):
        if key in opts:
            _need_bool(f"{p}.{key}", opts[key])
    if "seed" in opts:
        _need_int(f"{p}.seed", opts["seed"])
    if not is_15:
        if roles.count("reference_image") > 9:
            raise RequestInvalid(
                "referenceImages", f"referenceImages: at most 9 reference_image inputs for {model}"
            )
        if n_videos > 3:
            raise RequestInvalid(
                "referenceVideos", f"referenceVideos: at most 3 reference videos for {model}"
            )
    # seedance-1.5-pro: reference_image inputs are accepted and dropped, as the guide says validation does.
    return seconds, resolution, bool(opts.get("returnLastFrame", False))


def _kling(model: str, opts: dict[str, Any], roles: list[str], n_videos: int, n_elements: int) -> _Result:
    p = "options.kling"
    if model in KLING_MOTION:
        for key in ("duration", "aspectRatio", "generateAudio"):
            if key in opts:
                raise RequestInvalid(
                    f"{p}.{key}", f"{p}.{key}: kling motion-control models do not accept {key}"
                )
        _no_unknown(p, opts, ("characterOrientation", "keepOriginalSound"))
        if "characterOrientation" in opts:
            _need_enum(f"{p}.characterOrientation", opts["characterOrientation"], ("image", "video"))
        if "keepOriginalSound" in opts:
            _need_bool(f"{p}.keepOriginalSound", opts["keepOriginalSound"])
        seconds = DEFAULT_SECONDS[model]
    else:
        for key in ("characterOrientation", "keepOriginalSound"):
            if key in opts:
                raise RequestInvalid(
                    f"{p}.{key}", f"{p}.{key} is only accepted by kling motion-control models"
                )
        _no_unknown(p, opts, ("duration", "aspectRatio", "generateAudio"))
        seconds = DEFAULT_SECONDS[model]
        if "duration" in opts:
            seconds = _need_range(f"{p}.duration", opts["duration"], 3, 15)
        # aspectRatio is checked even when references make the server ignore it.
        if "aspectRatio" in opts:
            _need_enum(f"{p}.aspectRatio", opts["aspectRatio"], ("16:9", "9:16", "1:1"))
        if "generateAudio" in opts:
            _need_bool(f"{p}.generateAudio", opts["generateAudio"])
    total = n_elements + len(roles) + n_videos
    if total > 4:
        raise RequestInvalid(
            "elementIDs",
            f"elementIDs + referenceImages + referenceVideos: {model} accepts at most 4 items in total, "
            f"got {total}",
        )
    return seconds, None, False


def _grok(model: str, opts: dict[str, Any], roles: list[str], n_videos: int, n_elements: int) -> _Result:
    p = "options.grok"
    _no_unknown(p, opts, ("duration", "aspectRatio", "resolution"))
    seconds = DEFAULT_SECONDS[model]
    if "duration" in opts:
        seconds = _need_range(f"{p}.duration", opts["duration"], 1, 15)
    if "aspectRatio" in opts:
        _need_enum(f"{p}.aspectRatio", opts["aspectRatio"], GROK_RATIOS)
    resolution = (
        _need_enum(f"{p}.resolution", opts["resolution"], ("480p", "720p"))
        if "resolution" in opts
        else "480p"
    )
    return seconds, resolution, False


_FAMILY_CHECKS = {"veo": _veo, "seedance": _seedance, "kling": _kling, "grok": _grok}
