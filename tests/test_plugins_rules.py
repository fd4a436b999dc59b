"""The built-in model plugins against the vendor guide: every option, every value, every rule, every body.

The tables below are written from ``video-generation-guide.txt``, not from the plugins, so a plugin that drifts
from the guide fails here. The plugin modules are loaded from ``plugins/`` by file path and their models are
collected by calling each module's ``register_models`` hook with a list's ``append``: no installation needed.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from photogpt_batch import Model, Problem
from photogpt_batch.plugins import build_registry, make_plugin_host

PLUGINS_DIR = Path(__file__).resolve().parents[1] / "plugins"
PACKAGE = "photogpt_batch_plugins_under_test"
FAMILY_MODULES = ("veo", "seedance", "kling", "grok")


def load_plugins_package() -> dict[str, ModuleType]:
    """Import ``plugins/`` under a private name (relative imports need a package) and its family modules."""
    spec = importlib.util.spec_from_file_location(
        PACKAGE, PLUGINS_DIR / "__init__.py", submodule_search_locations=[str(PLUGINS_DIR)]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)
    return {name: importlib.import_module(f"{PACKAGE}.{name}") for name in (*FAMILY_MODULES, "_common")}


def registered_models(module: ModuleType) -> list[Model]:
    """The models a plugin module registers through its ``register_models`` hook."""
    found: list[Model] = []
    module.register_models(register=found.append)
    return found


MODULES = load_plugins_package()
MODELS = {model.id: model for name in FAMILY_MODULES for model in registered_models(MODULES[name])}

VEO = ("veo-3.1", "veo-3.1-fast")
SEEDANCE_1_5 = ("seedance-1.5-pro",)
SEEDANCE_2_0 = ("seedance-2.0",)
KLING_VIDEO = ("kling-video-standard", "kling-video-pro")
KLING_MOTION = ("kling-motion-standard", "kling-motion-pro")
GROK = ("grok-imagine-1.5",)
KLING = KLING_VIDEO + KLING_MOTION
ALL = VEO + SEEDANCE_1_5 + SEEDANCE_2_0 + KLING_VIDEO + KLING_MOTION + GROK

BOOLEAN = [True, False]
SEEDS = [0, 42, 2**31 - 1]
SEEDANCE_RATIOS = ["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"]
SEEDANCE_RESOLUTIONS = ["480p", "720p", "1080p"]

# The guide's tables: option -> (every documented value, documented default or None when it gives none).
GUIDE_OPTIONS: dict[tuple[str, ...], dict[str, tuple[list[Any], Any]]] = {
    VEO: {
        "aspectRatio": (["16:9", "9:16"], "16:9"),
        "duration": ([4, 6, 8], 8),
        "resolution": (["720p", "1080p"], "720p"),
        "enhancePrompt": (BOOLEAN, True),
        "generateAudio": (BOOLEAN, False),
        "negativePrompt": (["blur, low quality, distorted text"], None),
        "seed": (SEEDS, None),
    },
    SEEDANCE_1_5: {
        "resolution": (SEEDANCE_RESOLUTIONS, None),
        "ratio": (SEEDANCE_RATIOS, None),
        "duration": ([-1, *range(4, 13)], None),
        "draftMode": (BOOLEAN, None),
        "generateAudio": (BOOLEAN, None),
        "returnLastFrame": (BOOLEAN, None),
        "seed": (SEEDS, None),
    },
    SEEDANCE_2_0: {
        "resolution": (SEEDANCE_RESOLUTIONS, None),
        "ratio": (SEEDANCE_RATIOS, None),
        "duration": (list(range(4, 16)), None),
        "generateAudio": (BOOLEAN, None),
        "returnLastFrame": (BOOLEAN, None),
        "seed": (SEEDS, None),
    },
    KLING_VIDEO: {
        "duration": (list(range(3, 16)), 10),
        "aspectRatio": (["16:9", "9:16", "1:1"], None),
        "generateAudio": (BOOLEAN, False),
    },
    KLING_MOTION: {
        "characterOrientation": (["image", "video"], "video"),
        "keepOriginalSound": (BOOLEAN, True),
    },
    GROK: {
        "duration": (list(range(1, 16)), 8),
        "aspectRatio": (["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"], "16:9"),
        "resolution": (["480p", "720p"], "480p"),
    },
}

# Values just outside the guide's enums and ranges (boundaries included).
OUT_OF_RANGE: dict[tuple[str, ...], dict[str, list[Any]]] = {
    VEO: {
        "duration": [5, 7, 0, 10, -1],
        "aspectRatio": ["1:1", "16:10", "16/9", "16x9"],
        "resolution": ["480p", "4k", "1080"],
    },
    SEEDANCE_1_5: {
        "duration": [0, 1, 3, 13, -2, 15],
        "resolution": ["360p", "2k", "1080"],
        "ratio": ["2:3", "16:10", "auto"],
    },
    SEEDANCE_2_0: {
        "duration": [3, 16, -1, 0],
        "resolution": ["360p", "2k"],
        "ratio": ["2:3", "16:10", "auto"],
    },
    KLING_VIDEO: {"duration": [2, 16, 0, -1], "aspectRatio": ["4:3", "21:9", "adaptive"]},
    KLING_MOTION: {"characterOrientation": ["both", "Video", "", "none"]},
    GROK: {
        "duration": [0, 16, -1],
        "aspectRatio": ["21:9", "adaptive", "16:10"],
        "resolution": ["1080p", "360p"],
    },
}

# Values of the wrong JSON type: a bool or a string where an integer goes, a string or int for a boolean...
WRONG_TYPE: dict[tuple[str, ...], dict[str, list[Any]]] = {
    VEO: {
        "duration": [True, "8", 8.5, None],
        "aspectRatio": [16, None],
        "enhancePrompt": ["true", 1, None],
        "generateAudio": ["false", 0],
        "negativePrompt": [5, ["blur"], None],
        "seed": ["42", 4.2, True],
    },
    SEEDANCE_1_5: {
        "duration": [True, "8", "auto", 4.5],
        "draftMode": ["yes", 1],
        "generateAudio": [1],
        "returnLastFrame": ["true"],
        "seed": ["1", False],
    },
    SEEDANCE_2_0: {
        "duration": [True, "8", 4.5],
        "generateAudio": [0],
        "returnLastFrame": ["false"],
        "seed": ["1", True],
    },
    KLING_VIDEO: {"duration": [True, "10", 10.5], "aspectRatio": [1], "generateAudio": ["no"]},
    KLING_MOTION: {"characterOrientation": [True], "keepOriginalSound": ["true", 1]},
    GROK: {"duration": [True, "8", 8.5], "aspectRatio": [16], "resolution": [480]},
}

# Options a user would try on a model that does not take them, and what the reason must say.
REJECTED: list[tuple[tuple[str, ...], str, Any, str]] = [
    (SEEDANCE_2_0, "draftMode", True, "draftMode is only supported by seedance-1.5-pro"),
    (
        VEO + KLING_VIDEO + KLING_MOTION + GROK,
        "draftMode",
        True,
        "draftMode is only supported by seedance-1.5-pro",
    ),
    (
        KLING_MOTION,
        "duration",
        5,
        "Kling motion-control models do not accept duration, aspectRatio or generateAudio",
    ),
    (
        KLING_MOTION,
        "aspectRatio",
        "16:9",
        "Kling motion-control models do not accept duration, aspectRatio or generateAudio",
    ),
    (
        KLING_MOTION,
        "generateAudio",
        False,
        "Kling motion-control models do not accept duration, aspectRatio or generateAudio",
    ),
    (KLING_MOTION, "ratio", "16:9", "Kling motion-control models take no aspect ratio"),
    (VEO + KLING_VIDEO + GROK, "ratio", "16:9", "this model's option is aspectRatio"),
    (SEEDANCE_1_5 + SEEDANCE_2_0, "aspectRatio", "16:9", "Seedance's option is ratio"),
    (KLING_VIDEO, "characterOrientation", "video", "only taken by the Kling motion-control models"),
    (KLING_VIDEO, "keepOriginalSound", True, "only taken by the Kling motion-control models"),
    (
        GROK,
        "generateAudio",
        True,
        "grok-imagine-1.5 takes only these options: duration, aspectRatio, resolution",
    ),
    (KLING_VIDEO, "resolution", "720p", "takes only these options: duration, aspectRatio, generateAudio"),
    (SEEDANCE_2_0, "negativePrompt", "blur", "seedance-2.0 takes only these options"),
]

FAMILY_AND_GROUP = {
    "veo-3.1": ("veo", "veo"),
    "veo-3.1-fast": ("veo", "veo"),
    "seedance-1.5-pro": ("seedance", "seedance"),
    "seedance-2.0": ("seedance", "seedance"),
    "kling-video-standard": ("kling-video", "kling"),
    "kling-video-pro": ("kling-video", "kling"),
    "kling-motion-standard": ("kling-motion", "kling"),
    "kling-motion-pro": ("kling-motion", "kling"),
    "grok-imagine-1.5": ("grok", "grok"),
}

MAX_REFERENCE_VIDEOS = {model_id: 0 for model_id in ALL} | {
    "seedance-2.0": 3,
    "kling-motion-standard": 4,
    "kling-motion-pro": 4,
}


def per_model(table: dict[tuple[str, ...], dict[str, list[Any]]]) -> list[tuple[str, str, Any]]:
    """Expand a family table into (model id, option, value) cases."""
    return [
        (model_id, name, value)
        for models, options in table.items()
        for model_id in models
        for name, values in options.items()
        for value in values
    ]


def guide_option_cases() -> list[tuple[str, str, list[Any], Any]]:
    """(model id, option, documented values, documented default) for every documented option."""
    return [
        (model_id, name, values, default)
        for models, options in GUIDE_OPTIONS.items()
        for model_id in models
        for name, (values, default) in options.items()
    ]


def make_job(model_id: str, **fields: Any) -> dict[str, Any]:
    """A minimal expanded job for ``model_id`` with ``fields`` added."""
    return {"id": "job-1", "model": model_id, "prompt": "a product on a sunlit shelf", **fields}


def images(*roles: str) -> list[dict[str, str]]:
    """Reference images with these roles."""
    return [{"url": f"https://example.com/image-{i}.png", "role": role} for i, role in enumerate(roles)]


def videos(count: int) -> list[dict[str, str]]:
    """``count`` reference videos."""
    return [{"url": f"https://example.com/video-{i}.mp4", "role": "reference_video"} for i in range(count)]


def elements(count: int) -> list[str]:
    """``count`` element ids."""
    return [f"el_{i}" for i in range(count)]


@functools.cache
def validator(model_id: str) -> Draft202012Validator:
    """A validator of ``model_id``'s job schema."""
    return Draft202012Validator(MODELS[model_id].job_schema())


def schema_error_paths(model_id: str, job: dict[str, Any]) -> list[list[str | int]]:
    """Where the job schema finds errors in ``job``."""
    return [list(error.absolute_path) for error in validator(model_id).iter_errors(job)]


def option_is_valid(model_id: str, name: str, value: Any) -> bool:
    """Whether the job schema accepts ``options: {name: value}``."""
    return validator(model_id).is_valid(make_job(model_id, options={name: value}))


def valid_problems(model_id: str, job: dict[str, Any]) -> list[Problem]:
    """The rules' problems with ``job``, after checking that it passes the schema as rules assume."""
    assert schema_error_paths(model_id, job) == []
    return MODELS[model_id].check(job)


def paths(problems: Iterable[Problem]) -> list[tuple[str | int, ...]]:
    """The paths of ``problems``, in order."""
    return [problem.path for problem in problems]


def wire_to_job(payload: dict[str, Any], group: str) -> dict[str, Any]:
    """The spec job that should produce the guide's ``payload``: same fields, options flat."""
    job = make_job(payload["modelID"], prompt=payload["prompt"])
    for key in ("numVideos", "referenceImages", "referenceVideos", "elementIDs"):
        if key in payload:
            job[key] = payload[key]
    if "options" in payload:
        job["options"] = dict(payload["options"][group])
    return job


# --- registration ------------------------------------------------------------------------------------------


def test_plugins_register_exactly_the_guide_models() -> None:
    assert sorted(MODELS) == sorted(ALL)


def test_registry_loads_the_four_plugin_modules_without_warnings() -> None:
    pm = make_plugin_host(load_entry_points=False, extra=[MODULES[name] for name in FAMILY_MODULES])
    registry = build_registry(pm)
    assert registry.warnings == []
    assert registry.ids() == sorted(ALL)
    assert {registry.models[model_id].plugin for model_id in VEO} == {f"{PACKAGE}.veo"}


@pytest.mark.parametrize("model_id", ALL)
def test_model_family_and_option_group_follow_the_guide(model_id: str) -> None:
    model = MODELS[model_id]
    assert (model.family, model.option_group) == FAMILY_AND_GROUP[model_id]
    assert model.description


@pytest.mark.parametrize("model_id", ALL)
def test_capabilities_follow_project_policy(model_id: str) -> None:
    model = MODELS[model_id]
    assert model.image_roles == ("first_frame", "last_frame", "reference_image")
    assert model.max_reference_videos == MAX_REFERENCE_VIDEOS[model_id]
    assert model.accepts_element_ids is True


@pytest.mark.parametrize(
    "tiers", [VEO, KLING_VIDEO, KLING_MOTION], ids=["veo", "kling-video", "kling-motion"]
)
def test_tiers_of_a_family_share_one_option_declaration(tiers: tuple[str, str]) -> None:
    standard, pro = (MODELS[model_id] for model_id in tiers)
    assert standard.options is pro.options
    assert standard.rules == pro.rules


# --- option schemas ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", ALL)
def test_job_schema_is_a_valid_json_schema(model_id: str) -> None:
    Draft202012Validator.check_schema(MODELS[model_id].job_schema())


@pytest.mark.parametrize("model_id", ALL)
def test_model_takes_exactly_the_options_the_guide_lists(model_id: str) -> None:
    guide = next(options for models, options in GUIDE_OPTIONS.items() if model_id in models)
    assert list(MODELS[model_id].options) == list(guide)


@pytest.mark.parametrize("model_id", ALL)
def test_every_option_has_a_json_type_and_a_description(model_id: str) -> None:
    for name, schema in MODELS[model_id].options.items():
        assert schema["type"] in ("integer", "boolean", "string"), name
        assert schema["description"].strip(), name


@pytest.mark.parametrize(("model_id", "name", "values", "default"), guide_option_cases())
def test_every_documented_value_is_accepted(
    model_id: str, name: str, values: list[Any], default: Any
) -> None:
    assert [value for value in values if not option_is_valid(model_id, name, value)] == []


@pytest.mark.parametrize(("model_id", "name", "values", "default"), guide_option_cases())
def test_documented_default_is_declared_and_used_when_the_option_is_not_written(
    model_id: str, name: str, values: list[Any], default: Any
) -> None:
    model = MODELS[model_id]
    assert model.options[name].get("default") == default
    assert model.option(make_job(model_id), name) == default
    if default is not None:
        assert default in values


@pytest.mark.parametrize(("model_id", "name", "value"), per_model(OUT_OF_RANGE))
def test_value_outside_the_guide_enum_or_range_is_rejected_at_the_option(
    model_id: str, name: str, value: Any
) -> None:
    assert ["options", name] in schema_error_paths(model_id, make_job(model_id, options={name: value}))


@pytest.mark.parametrize(("model_id", "name", "value"), per_model(WRONG_TYPE))
def test_value_of_the_wrong_type_is_rejected_at_the_option(model_id: str, name: str, value: Any) -> None:
    assert ["options", name] in schema_error_paths(model_id, make_job(model_id, options={name: value}))


def test_seedance_1_5_duration_enum_lists_auto_then_4_to_12() -> None:
    assert MODELS["seedance-1.5-pro"].options["duration"]["enum"] == [-1, 4, 5, 6, 7, 8, 9, 10, 11, 12]


@pytest.mark.parametrize(
    ("model_id", "minimum", "maximum"),
    [
        ("seedance-2.0", 4, 15),
        ("kling-video-standard", 3, 15),
        ("kling-video-pro", 3, 15),
        ("grok-imagine-1.5", 1, 15),
    ],
)
def test_duration_range_is_declared_as_integer_minimum_and_maximum(
    model_id: str, minimum: int, maximum: int
) -> None:
    schema = MODELS[model_id].options["duration"]
    assert (schema["type"], schema["minimum"], schema["maximum"]) == ("integer", minimum, maximum)


@pytest.mark.parametrize(
    ("model_id", "name", "value", "reason"),
    [(model_id, name, value, reason) for models, name, value, reason in REJECTED for model_id in models],
)
def test_option_the_model_does_not_take_is_rejected_with_a_reason(
    model_id: str, name: str, value: Any, reason: str
) -> None:
    assert ["options"] in schema_error_paths(model_id, make_job(model_id, options={name: value}))
    assert reason in MODELS[model_id].rejected_options[name]


@pytest.mark.parametrize("model_id", ALL)
def test_every_builtin_option_name_a_model_lacks_is_explained(model_id: str) -> None:
    model = MODELS[model_id]
    every_option = {name for other in MODELS.values() for name in other.options}
    assert set(model.rejected_options) == every_option - set(model.options)
    assert all(reason.strip() for reason in model.rejected_options.values())


def test_builtin_option_names_list_every_option_of_every_builtin_model() -> None:
    every_option = {name for model in MODELS.values() for name in model.options}
    assert set(MODULES["_common"].BUILTIN_OPTION_NAMES) == every_option


@pytest.mark.parametrize("model_id", ALL)
def test_wire_shaped_options_group_is_rejected(model_id: str) -> None:
    group = MODELS[model_id].option_group
    job = make_job(model_id, options={group: {"duration": 8}})
    assert ["options"] in schema_error_paths(model_id, job)


# --- reference inputs in the schema ------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", ALL)
def test_backend_only_contains_human_on_an_image_is_rejected(model_id: str) -> None:
    image = {"url": "https://example.com/a.png", "role": "first_frame", "containsHuman": True}
    assert ["referenceImages", 0] in schema_error_paths(model_id, make_job(model_id, referenceImages=[image]))


@pytest.mark.parametrize("model_id", ["seedance-2.0", *KLING_MOTION])
def test_backend_only_duration_on_a_reference_video_is_rejected(model_id: str) -> None:
    video = {"url": "https://example.com/a.mp4", "role": "reference_video", "duration": 5}
    assert ["referenceVideos", 0] in schema_error_paths(model_id, make_job(model_id, referenceVideos=[video]))


def test_seedance_2_0_schema_caps_reference_videos_at_3() -> None:
    schema = MODELS["seedance-2.0"].job_schema()
    assert schema["properties"]["referenceVideos"]["maxItems"] == 3
    assert schema_error_paths("seedance-2.0", make_job("seedance-2.0", referenceVideos=videos(3))) == []
    assert schema_error_paths("seedance-2.0", make_job("seedance-2.0", referenceVideos=videos(4))) == [
        ["referenceVideos"]
    ]


@pytest.mark.parametrize("model_id", [m for m in ALL if MAX_REFERENCE_VIDEOS[m] == 0])
def test_reference_videos_are_refused_by_models_that_take_none(model_id: str) -> None:
    assert schema_error_paths(model_id, make_job(model_id, referenceVideos=videos(1))) == [[]]


# --- rule shared by every model: one first_frame, one last_frame -------------------------------------------


@pytest.mark.parametrize("model_id", ALL)
@pytest.mark.parametrize("role", ["first_frame", "last_frame"])
def test_each_extra_first_or_last_frame_image_is_an_error(model_id: str, role: str) -> None:
    problems = valid_problems(model_id, make_job(model_id, referenceImages=images(role, role, role)))
    assert paths(problems) == [("referenceImages", 1), ("referenceImages", 2)]
    assert all(problem.severity == "error" for problem in problems)
    assert f"at most one {role} image; referenceImages[0] is already the {role}" in problems[0].message


@pytest.mark.parametrize("model_id", ALL)
def test_one_first_frame_and_one_last_frame_are_fine(model_id: str) -> None:
    assert (
        valid_problems(model_id, make_job(model_id, referenceImages=images("last_frame", "first_frame")))
        == []
    )


@pytest.mark.parametrize("model_id", ALL)
def test_minimal_job_passes_schema_and_rules(model_id: str) -> None:
    assert valid_problems(model_id, make_job(model_id)) == []


# --- Veo: duration 8 with reference_image ------------------------------------------------------------------


@pytest.mark.parametrize("model_id", VEO)
@pytest.mark.parametrize("duration", [4, 6])
def test_veo_duration_other_than_8_with_reference_image_is_an_error_at_duration(
    model_id: str, duration: int
) -> None:
    job = make_job(
        model_id,
        referenceImages=images("first_frame", "reference_image", "reference_image"),
        options={"duration": duration},
    )
    (problem,) = valid_problems(model_id, job)
    assert problem.path == ("options", "duration")
    assert problem.severity == "error"
    assert problem.message == (
        f"duration must be 8 when using reference_image (referenceImages[1]); this job has {duration}"
    )


@pytest.mark.parametrize("model_id", VEO)
@pytest.mark.parametrize(
    "job_fields",
    [
        {"referenceImages": images("reference_image"), "options": {"duration": 8}},
        {"referenceImages": images("reference_image")},
        {"referenceImages": images("first_frame", "last_frame"), "options": {"duration": 4}},
        {"options": {"duration": 6}},
    ],
    ids=["duration-8", "default-duration-is-8", "no-reference-image", "text-to-video"],
)
def test_veo_duration_rule_is_quiet_when_duration_is_8_or_no_reference_image(
    model_id: str, job_fields: dict[str, Any]
) -> None:
    assert valid_problems(model_id, make_job(model_id, **job_fields)) == []


def test_veo_duration_rule_points_at_the_image_when_the_default_duration_is_not_8() -> None:
    veo = MODELS["veo-3.1"]
    variant = dataclasses.replace(
        veo, options={**veo.options, "duration": {**veo.options["duration"], "default": 6}}
    )
    job = make_job("veo-3.1", referenceImages=images("first_frame", "reference_image"))
    (problem,) = variant.check(job)
    assert problem.path == ("referenceImages", 1)
    assert "needs duration 8" in problem.message and "default duration is 6" in problem.message


# --- Seedance 1.5 Pro: dropped reference images, draft mode ------------------------------------------------


def test_seedance_1_5_warns_and_drops_each_reference_image() -> None:
    job = make_job(
        "seedance-1.5-pro", referenceImages=images("first_frame", "reference_image", "reference_image")
    )
    problems = valid_problems("seedance-1.5-pro", job)
    assert paths(problems) == [("referenceImages", 1), ("referenceImages", 2)]
    assert all(p.severity == "warning" and p.drop for p in problems)
    assert "seedance-1.5-pro drops reference_image inputs" in problems[0].message
    body = MODELS["seedance-1.5-pro"].build_request(job, problems)
    assert body["referenceImages"] == images("first_frame")


def test_seedance_1_5_with_only_reference_images_sends_no_reference_images() -> None:
    job = make_job("seedance-1.5-pro", referenceImages=images("reference_image"))
    body = MODELS["seedance-1.5-pro"].build_request(job, valid_problems("seedance-1.5-pro", job))
    assert "referenceImages" not in body


def test_seedance_1_5_keeps_first_and_last_frame_images() -> None:
    job = make_job("seedance-1.5-pro", referenceImages=images("first_frame", "last_frame"))
    assert valid_problems("seedance-1.5-pro", job) == []


@pytest.mark.parametrize("resolution", ["720p", "1080p"])
def test_seedance_1_5_draft_mode_warns_and_drops_a_resolution_other_than_480p(resolution: str) -> None:
    job = make_job("seedance-1.5-pro", options={"draftMode": True, "resolution": resolution, "duration": 5})
    (problem,) = valid_problems("seedance-1.5-pro", job)
    assert (problem.path, problem.severity, problem.drop) == (("options", "resolution"), "warning", True)
    assert problem.message == f"draftMode forces 480p: resolution {resolution} is not sent"
    body = MODELS["seedance-1.5-pro"].build_request(job, [problem])
    assert body["options"] == {"seedance": {"draftMode": True, "duration": 5}}


@pytest.mark.parametrize(
    "options",
    [
        {"draftMode": True, "resolution": "480p"},
        {"draftMode": True},
        {"draftMode": False, "resolution": "1080p"},
        {"resolution": "1080p"},
    ],
    ids=["draft-480p", "draft-no-resolution", "draft-off", "no-draft-mode"],
)
def test_seedance_1_5_draft_mode_rule_is_quiet_otherwise(options: dict[str, Any]) -> None:
    assert valid_problems("seedance-1.5-pro", make_job("seedance-1.5-pro", options=options)) == []


# --- Seedance 2.0: at most 9 reference images, 3 reference videos ------------------------------------------


def test_seedance_2_0_takes_9_reference_images_and_sends_them() -> None:
    job = make_job("seedance-2.0", referenceImages=images(*["reference_image"] * 9))
    assert valid_problems("seedance-2.0", job) == []
    assert len(MODELS["seedance-2.0"].build_request(job)["referenceImages"]) == 9


def test_seedance_2_0_errors_on_each_reference_image_after_the_9th() -> None:
    job = make_job("seedance-2.0", referenceImages=images(*["reference_image"] * 11))
    problems = valid_problems("seedance-2.0", job)
    assert paths(problems) == [("referenceImages", 9), ("referenceImages", 10)]
    assert all(p.severity == "error" for p in problems)
    assert (
        problems[0].message
        == "seedance-2.0 takes at most 9 reference_image inputs; this is reference_image number 10"
    )


def test_seedance_2_0_reference_image_limit_does_not_count_first_and_last_frames() -> None:
    job = make_job(
        "seedance-2.0", referenceImages=images("first_frame", *["reference_image"] * 9, "last_frame")
    )
    assert valid_problems("seedance-2.0", job) == []


# --- Kling: 4 elements and references together; aspectRatio ignored with image input ----------------------


@pytest.mark.parametrize(
    ("model_id", "job_fields"),
    [
        *[(m, {"elementIDs": elements(4)}) for m in KLING],
        *[
            (m, {"referenceImages": images("first_frame", "last_frame", *["reference_image"] * 2)})
            for m in KLING
        ],
        *[(m, {"elementIDs": elements(2), "referenceImages": images("first_frame")}) for m in KLING_VIDEO],
        *[
            (
                m,
                {
                    "elementIDs": elements(2),
                    "referenceImages": images("first_frame"),
                    "referenceVideos": videos(1),
                },
            )
            for m in KLING_MOTION
        ],
    ],
)
def test_kling_takes_4_elements_and_references_together(model_id: str, job_fields: dict[str, Any]) -> None:
    assert valid_problems(model_id, make_job(model_id, **job_fields)) == []


@pytest.mark.parametrize("model_id", KLING)
@pytest.mark.parametrize(
    ("n_elements", "roles", "expected"),
    [
        (5, (), [("elementIDs", 4)]),
        (3, ("first_frame", "reference_image"), [("referenceImages", 1)]),
        (0, ("reference_image",) * 6, [("referenceImages", 4), ("referenceImages", 5)]),
    ],
)
def test_kling_errors_on_each_item_after_the_4th_element_or_reference(
    model_id: str, n_elements: int, roles: tuple[str, ...], expected: list[tuple[str, int]]
) -> None:
    job = make_job(model_id, elementIDs=elements(n_elements), referenceImages=images(*roles))
    problems = [p for p in valid_problems(model_id, job) if p.severity == "error"]
    assert paths(problems) == expected
    total = n_elements + len(roles)
    assert {p.message for p in problems} == {
        f"Kling accepts at most 4 elements and references together (this job has {total})"
    }


@pytest.mark.parametrize("model_id", KLING_MOTION)
def test_kling_motion_counts_reference_videos_last_in_the_total(model_id: str) -> None:
    job = make_job(
        model_id, elementIDs=elements(2), referenceImages=images("first_frame"), referenceVideos=videos(3)
    )
    problems = valid_problems(model_id, job)
    assert paths(problems) == [("referenceVideos", 1), ("referenceVideos", 2)]
    assert problems[0].message == "Kling accepts at most 4 elements and references together (this job has 6)"


@pytest.mark.parametrize("model_id", KLING_MOTION)
def test_kling_motion_schema_caps_reference_videos_at_4(model_id: str) -> None:
    assert schema_error_paths(model_id, make_job(model_id, referenceVideos=videos(5))) == [
        ["referenceVideos"]
    ]


@pytest.mark.parametrize("model_id", KLING_VIDEO)
@pytest.mark.parametrize(
    ("job_fields", "inputs"),
    [
        ({"referenceImages": images("first_frame")}, "referenceImages"),
        ({"elementIDs": elements(1)}, "elementIDs"),
        (
            {"referenceImages": images("reference_image"), "elementIDs": elements(1)},
            "referenceImages and elementIDs",
        ),
    ],
    ids=["image-to-video", "elements", "both"],
)
def test_kling_video_aspect_ratio_with_image_or_elements_is_warned_and_not_sent(
    model_id: str, job_fields: dict[str, Any], inputs: str
) -> None:
    job = make_job(model_id, options={"aspectRatio": "9:16", "duration": 5}, **job_fields)
    (problem,) = valid_problems(model_id, job)
    assert (problem.path, problem.severity, problem.drop) == (("options", "aspectRatio"), "warning", True)
    assert (
        problem.message
        == f"aspectRatio is text-to-video only: Kling ignores it with {inputs}, so it is not sent"
    )
    assert MODELS[model_id].build_request(job, [problem])["options"] == {"kling": {"duration": 5}}


@pytest.mark.parametrize("model_id", KLING_VIDEO)
@pytest.mark.parametrize(
    "job_fields",
    [
        {"options": {"aspectRatio": "1:1"}},
        {"options": {"aspectRatio": "1:1"}, "referenceImages": [], "elementIDs": []},
        {"referenceImages": images("first_frame"), "options": {"duration": 5}},
    ],
    ids=["text-to-video", "empty-lists", "no-aspect-ratio"],
)
def test_kling_video_aspect_ratio_rule_is_quiet_for_text_to_video_or_without_aspect_ratio(
    model_id: str, job_fields: dict[str, Any]
) -> None:
    assert valid_problems(model_id, make_job(model_id, **job_fields)) == []


# --- request bodies ----------------------------------------------------------------------------------------

GUIDE_VEO_TEXT_TO_VIDEO = {
    "modelID": "veo-3.1",
    "prompt": "cinematic close-up of a skincare bottle rotating on wet stone",
    "numVideos": 1,
    "options": {
        "veo": {
            "duration": 8,
            "aspectRatio": "16:9",
            "resolution": "1080p",
            "generateAudio": False,
            "enhancePrompt": True,
            "negativePrompt": "blur, low quality, distorted text",
        },
    },
}

GUIDE_SEEDANCE_IMAGE_TO_VIDEO = {
    "modelID": "seedance-2.0",
    "prompt": "slow push-in camera movement, soft studio lighting",
    "numVideos": 1,
    "referenceImages": [{"url": "https://example.com/product-frame.png", "role": "first_frame"}],
    "options": {
        "seedance": {
            "duration": 6,
            "ratio": "16:9",
            "resolution": "1080p",
            "generateAudio": False,
            "returnLastFrame": True,
        },
    },
}

GUIDE_SEEDANCE_REFERENCE_VIDEO = {
    "modelID": "seedance-2.0",
    "prompt": "match the reference camera motion with a new product subject",
    "numVideos": 1,
    "referenceVideos": [{"url": "https://example.com/reference-motion.mp4", "role": "reference_video"}],
    "options": {"seedance": {"duration": 8, "ratio": "16:9", "resolution": "720p", "generateAudio": False}},
}


@pytest.mark.parametrize(
    ("payload", "group"),
    [
        (GUIDE_VEO_TEXT_TO_VIDEO, "veo"),
        ({**GUIDE_VEO_TEXT_TO_VIDEO, "modelID": "veo-3.1-fast"}, "veo"),
        (GUIDE_SEEDANCE_IMAGE_TO_VIDEO, "seedance"),
        (GUIDE_SEEDANCE_REFERENCE_VIDEO, "seedance"),
    ],
    ids=["veo-3.1-text-to-video", "veo-3.1-fast-text-to-video", "seedance-2.0-image", "seedance-2.0-video"],
)
def test_guide_example_job_is_valid_and_builds_the_guide_payload_exactly(
    payload: dict[str, Any], group: str
) -> None:
    job = wire_to_job(payload, group)
    assert valid_problems(payload["modelID"], job) == []
    assert MODELS[payload["modelID"]].build_request(job) == payload


@pytest.mark.parametrize(
    ("payload", "group"),
    [(GUIDE_VEO_TEXT_TO_VIDEO, "veo"), (GUIDE_SEEDANCE_IMAGE_TO_VIDEO, "seedance")],
    ids=["veo-3.1", "seedance-2.0"],
)
def test_body_leaves_out_what_the_job_did_not_set_and_invents_no_defaults(
    payload: dict[str, Any], group: str
) -> None:
    job = wire_to_job(payload, group)
    del job["numVideos"]
    kept = dict(list(job["options"].items())[:2])
    job["options"] = kept
    expected = {k: v for k, v in payload.items() if k != "numVideos"} | {"options": {group: kept}}
    assert MODELS[payload["modelID"]].build_request(job) == expected


@pytest.mark.parametrize("model_id", ALL)
def test_minimal_job_body_is_model_id_and_prompt_only(model_id: str) -> None:
    assert MODELS[model_id].build_request(make_job(model_id)) == {
        "modelID": model_id,
        "prompt": "a product on a sunlit shelf",
    }


def test_seedance_1_5_full_job_body() -> None:
    job = make_job(
        "seedance-1.5-pro",
        numVideos=2,
        referenceImages=images("first_frame", "reference_image", "last_frame"),
        options={
            "resolution": "480p",
            "ratio": "adaptive",
            "duration": -1,
            "draftMode": True,
            "generateAudio": True,
            "returnLastFrame": False,
            "seed": 7,
        },
    )
    body = MODELS["seedance-1.5-pro"].build_request(job, valid_problems("seedance-1.5-pro", job))
    assert body == {
        "modelID": "seedance-1.5-pro",
        "prompt": "a product on a sunlit shelf",
        "numVideos": 2,
        "referenceImages": [
            {"url": "https://example.com/image-0.png", "role": "first_frame"},
            {"url": "https://example.com/image-2.png", "role": "last_frame"},
        ],
        "options": {
            "seedance": {
                "resolution": "480p",
                "ratio": "adaptive",
                "duration": -1,
                "draftMode": True,
                "generateAudio": True,
                "returnLastFrame": False,
                "seed": 7,
            }
        },
    }


@pytest.mark.parametrize("model_id", KLING_VIDEO)
def test_kling_video_full_text_to_video_body(model_id: str) -> None:
    job = make_job(
        model_id, numVideos=1, options={"duration": 15, "aspectRatio": "1:1", "generateAudio": True}
    )
    assert MODELS[model_id].build_request(job, valid_problems(model_id, job)) == {
        "modelID": model_id,
        "prompt": "a product on a sunlit shelf",
        "numVideos": 1,
        "options": {"kling": {"duration": 15, "aspectRatio": "1:1", "generateAudio": True}},
    }


@pytest.mark.parametrize("model_id", KLING_MOTION)
def test_kling_motion_full_body_sends_the_default_video_role(model_id: str) -> None:
    job = make_job(
        model_id,
        elementIDs=["el_123"],
        referenceImages=images("reference_image"),
        referenceVideos=[{"url": "https://example.com/dance.mp4"}],
        options={"characterOrientation": "image", "keepOriginalSound": False},
    )
    assert MODELS[model_id].build_request(job, valid_problems(model_id, job)) == {
        "modelID": model_id,
        "prompt": "a product on a sunlit shelf",
        "referenceImages": [{"url": "https://example.com/image-0.png", "role": "reference_image"}],
        "referenceVideos": [{"url": "https://example.com/dance.mp4", "role": "reference_video"}],
        "elementIDs": ["el_123"],
        "options": {"kling": {"characterOrientation": "image", "keepOriginalSound": False}},
    }


def test_grok_full_body() -> None:
    job = make_job(
        "grok-imagine-1.5",
        referenceImages=images("first_frame"),
        options={"duration": 15, "aspectRatio": "2:3", "resolution": "720p"},
    )
    assert MODELS["grok-imagine-1.5"].build_request(job, valid_problems("grok-imagine-1.5", job)) == {
        "modelID": "grok-imagine-1.5",
        "prompt": "a product on a sunlit shelf",
        "referenceImages": [{"url": "https://example.com/image-0.png", "role": "first_frame"}],
        "options": {"grok": {"duration": 15, "aspectRatio": "2:3", "resolution": "720p"}},
    }


@pytest.mark.parametrize("model_id", ALL)
def test_body_never_carries_backend_only_fields(model_id: str) -> None:
    job = make_job(
        model_id,
        referenceImages=[{"url": "https://example.com/a.png", "role": "first_frame", "containsHuman": True}],
    )
    if MAX_REFERENCE_VIDEOS[model_id]:
        job["referenceVideos"] = [{"url": "https://example.com/a.mp4", "duration": 4}]
    body = MODELS[model_id].build_request(job)
    sent = body["referenceImages"] + body.get("referenceVideos", [])
    assert all(set(item) == {"url", "role"} for item in sent)
