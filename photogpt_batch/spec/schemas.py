"""JSON Schemas generated from the registered models: one per model, and the campaign schema editors use.

The campaign schema is written for editors (yaml-language-server and friends, draft-07): completion of
keys, model ids and each model's options, and a placeholder string (``"{seed}"``) accepted wherever a
value may come from ``vars`` or a matrix. The tool's own validation is stricter and runs on expanded jobs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..models import Model
from ..plugins import Registry
from .expand import JOB_FIELDS
from .ids import CAMPAIGN_SLUG
from .templates import RESERVED_NAMES, VAR_NAME

DRAFT = "http://json-schema.org/draft-07/schema#"
SCHEMA_BASE = "https://photogpt-batch.dev/schemas/"
_PH = r"\{[A-Za-z_][A-Za-z0-9_]*\}"  # one placeholder
PLACEHOLDER = {"type": "string", "pattern": rf"^{_PH}$",
               "description": "A value from vars or the matrix, e.g. \"{seed}\"."}



_NEED_ITEM: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "minLength": 1},
        {"type": "object", "required": ["job"], "additionalProperties": False,
         "properties": {"job": {"type": "string", "minLength": 1},
                        "picked": {"type": "boolean", "description": "Sent only if that job is picked in the "
                                                                     "review (its recorded picks)."}}},
    ],
}
#: A job's ``needs:`` (see spec/needs.py): never part of the request.
_NEEDS: dict[str, Any] = {
    "description": "Jobs to wait for (their videos downloaded) before this one is sent: an id, {job: ID, picked: "
                   "true}, or a list of them; {name} placeholders are filled per job, as in `id`.",
    "anyOf": [_NEED_ITEM, {"type": "array", "minItems": 1, "items": _NEED_ITEM}],
}


def model_schema(model: Model) -> dict[str, Any]:
    """The standalone JSON Schema of one expanded job for ``model``."""
    return {
        "$schema": DRAFT,
        "$id": f"{SCHEMA_BASE}{model.id}.schema.json",
        "title": f"{model.id}: one expanded photogpt-batch job",
        "description": f"{model.description} Provided by plugin {model.plugin!r}; options are sent as "
        f"options.{model.option_group}.",
        **model.job_schema(),
    }


def _or_placeholder(schema: dict[str, Any]) -> dict[str, Any]:
    if schema.get("type") == "string" and "enum" not in schema and "pattern" not in schema:
        return dict(schema)  # a free-text option: placeholders are text anyway
    return {"anyOf": [dict(schema), PLACEHOLDER], **({"description": schema["description"]}
                                                      if "description" in schema else {})}


def campaign_schema(registry: Registry) -> dict[str, Any]:
    """The JSON Schema of a campaign file (format version 1) for every registered model."""
    models = [registry.models[i] for i in registry.ids()]
    union: dict[str, list[dict[str, Any]]] = {}
    for model in models:
        for name, schema in model.options.items():
            if dict(schema) not in union.setdefault(name, []):
                union[name].append(dict(schema))
    option_props = {}
    for name, variants in sorted(union.items()):
        takers = [m.id for m in models if name in m.options]
        option_props[name] = {
            "description": f"Taken by {', '.join(takers)}. " + (variants[0].get("description") or ""),
            "anyOf": [*variants, PLACEHOLDER],
        }
    file = {"type": "string", "description": "A local file, relative to the spec: staged on the object store and "
            "sent as a signed URL."}
    source = {"type": "string", "description": "Another job's id: its first video (or a frame of it) is this input, "
              "once that job is done; staged on the object store and sent as a signed URL."}
    frame = {"type": "string", "pattern": "^(first|last|\\d+(\\.\\d+)?s|\\{.*)$", "default": "last",
             "description": "Which frame of the `from` job's first video: first, last, or a time such as 2.5s."}
    one_of = [{"required": ["url"]}, {"required": ["file"]}, {"required": ["from"]}]
    ref_image = {"type": "object", "additionalProperties": False, "required": ["role"], "oneOf": one_of,
                 "properties": {
        "file": file,
        "from": source,
        "frame": frame,
        "url": {"type": "string", "pattern": "^(https?://|\\{)"},
        "role": {"enum": ["first_frame", "last_frame", "reference_image"]},
    }}
    ref_video = {"type": "object", "additionalProperties": False, "oneOf": one_of, "properties": {
        "file": file,
        "from": source,
        "url": {"type": "string", "pattern": "^(https?://|\\{)"},
        "role": {"enum": ["reference_video"]},
    }}
    fields: dict[str, Any] = {
        "model": {"description": "The model id; see `photogpt-batch models`.",
                  "anyOf": [{"enum": [m.id for m in models]}, PLACEHOLDER]},
        "prompt": {"type": "string", "minLength": 1, "description": "Text describing the video; {name} placeholders."},
        "numVideos": {"anyOf": [{"type": "integer", "minimum": 1}, PLACEHOLDER],
                      "description": "Number of videos to generate (default 1)."},
        "options": {"type": "object", "description": "Flat: the model's own option names.",
                    "properties": option_props, "additionalProperties": False},
        "referenceImages": {"anyOf": [{"type": "array", "items": ref_image}, PLACEHOLDER]},
        "referenceVideos": {"anyOf": [{"type": "array", "items": ref_video}, PLACEHOLDER]},
        "elementIDs": {"anyOf": [{"type": "array", "items": {"type": "string"}}, PLACEHOLDER]},
    }
    assert set(fields) == set(JOB_FIELDS)
    per_model = [
        {
            "if": {"properties": {"model": {"const": m.id}}, "required": ["model"]},
            "then": {"properties": {"options": {
                "properties": {k: _or_placeholder(dict(v)) for k, v in m.options.items()},
                "additionalProperties": False,
            }}},
        }
        for m in models
    ]
    job = {
        "type": "object",
        "required": ["id"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "description": "Unique in the campaign after expansion; {name} placeholders.",
                   "pattern": rf"^([A-Za-z0-9]|{_PH})([A-Za-z0-9._-]|{_PH})*$"},
            **fields,
            "matrix": {
                "type": "object",
                "description": "One job per combination of these lists; `model` sets the job's model.",
                "properties": {
                    "model": {"type": "array", "minItems": 1, "items": {"enum": [m.id for m in models]}},
                    "exclude": {"type": "array", "items": {"type": "object"},
                                "description": "Combinations to leave out, e.g. [{model: veo-3.1, ratio: '9:16'}]."},
                },
                "propertyNames": {"pattern": f"^{VAR_NAME.pattern}$"},
                "additionalProperties": {"type": "array", "minItems": 1},
            },
            "rows": {"type": "string", "minLength": 1, "pattern": r"\.(csv|tsv|tab|jsonl|ndjson|ya?ml|json)$",
                     "description": "One job per row of this data file (CSV or TSV with a header, JSON Lines, or a "
                                    "YAML or JSON list of mappings), relative to this file; its columns are "
                                    "placeholders. With a matrix: every row times every combination."},
            "needs": _NEEDS,
        },
        "allOf": per_model,
    }
    return {
        "$schema": DRAFT,
        "$id": f"{SCHEMA_BASE}campaign.schema.json",
        "title": "photogpt-batch campaign, format version 1",
        "type": "object",
        "required": ["version", "campaign", "jobs"],
        "additionalProperties": False,
        "properties": {
            "version": {"const": 1, "description": "The spec format version; only 1 exists."},
            "campaign": {"type": "string", "pattern": f"^{CAMPAIGN_SLUG.pattern}$",
                         "description": "A slug; names the output folder and the ledger."},
            "output": {"type": "string", "description": "Output folder, relative to this file's folder; default "
                                                         "out/<campaign>."},
            "budget": {"type": "object", "required": ["credits"], "additionalProperties": False,
                       "description": "The most this campaign may spend, across all its runs.",
                       "properties": {"credits": {"type": "number", "exclusiveMinimum": 0,
                                                  "description": "Credits, as the API counts them."}}},
            "defaults": {"type": "object", "properties": fields, "additionalProperties": False,
                         "description": "Merged under every job: the job wins, mappings merge, lists replace."},
            "vars": {"type": "object",
                     "propertyNames": {"pattern": f"^{VAR_NAME.pattern}$", "not": {"enum": list(RESERVED_NAMES)}},
                     "description": "Values for {name} placeholders."},
            "jobs": {"type": "array", "minItems": 1, "items": job},
            "sequences": {"type": "object", "minProperties": 1,
                          "propertyNames": {"pattern": f"^{CAMPAIGN_SLUG.pattern}$"},
                          "additionalProperties": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                          "description": "Named, ordered lists of job ids: once every job of one is done, their "
                                         "videos are joined into <output>/sequences/<name>.mp4."},
        },
        # A job needs a prompt and a model of its own unless `defaults` gives them (a matrix over `model` gives
        # a model too): said here so that an editor marks the job, as `validate` does.
        "allOf": [
            {"if": _defaults_give("prompt"), "else": _every_job({"required": ["prompt"]})},
            {"if": _defaults_give("model"), "else": _every_job({
                "if": {"anyOf": [{"required": ["matrix"], "properties": {"matrix": {"required": ["model"]}}},
                                 {"required": ["rows"]}]},  # a `model` column of the rows file may give it
                "else": {"required": ["model"]},
            })},
        ],
    }


def _defaults_give(key: str) -> dict[str, Any]:
    return {"required": ["defaults"], "properties": {"defaults": {"required": [key]}}}


def _every_job(schema: dict[str, Any]) -> dict[str, Any]:
    return {"properties": {"jobs": {"items": schema}}}


def render(schema: dict[str, Any]) -> str:
    """A schema as the text committed in ``schemas/`` (stable: sorted nowhere, indented, newline-terminated)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def generate(registry: Registry) -> dict[str, str]:
    """File name -> text of every schema file for ``registry``."""
    files = {"campaign.schema.json": render(campaign_schema(registry))}
    for model_id in registry.ids():
        files[f"{model_id}.schema.json"] = render(model_schema(registry.models[model_id]))
    return files


def write(registry: Registry, out: Path) -> list[Path]:
    """Write every schema file into ``out``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate(registry).items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(registry: Registry, out: Path) -> list[str]:
    """The schema files in ``out`` that are missing or differ from what ``registry`` generates."""
    problems = []
    for name, text in generate(registry).items():
        path = out / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: out of date")
    return problems
