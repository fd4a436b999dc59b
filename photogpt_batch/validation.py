"""Validate expanded jobs against their model's JSON Schema and rules, and build each request body.

Every problem becomes a located `Diagnostic` (file:line:column of the offending key or value). Each model's
validator is compiled once, and each distinct job *shape* (the job without its id and prompt) is validated
and turned into a request once, however many matrix jobs share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from .diagnostics import Diagnostic, SpecError, sort_diagnostics, suggest
from .expand import ExpandedJob, expand, walk_position
from .jobs import Campaign, PlannedJob, canonical_json, content_hash
from .models import JsonPath, Model
from .plugins import Registry, get_registry
from .spec import load_document, node_position


@dataclass(frozen=True)
class _Finding:
    path: JsonPath
    message: str
    severity: str = "error"
    hint: str | None = None
    at_key: bool = False


@dataclass(frozen=True)
class _ShapeResult:
    findings: tuple[_Finding, ...]
    body: dict[str, Any] | None  # None when the shape has errors


def dotted(path: JsonPath) -> str:
    """``options.duration``, ``referenceImages[2].url``: a path as users write it."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "job"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'"{value}"' if (":" in value or not value or value.strip() != value) else value
    if isinstance(value, dict | list):
        text = canonical_json(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(value)


_TYPE_NAMES = {"integer": "a whole number", "boolean": "true or false", "string": "text",
               "object": "a mapping", "array": "a list", "number": "a number"}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else type(value).__name__


#: Fields the vendor says the backend computes; NOTES.md: never send them.
_BACKEND_ONLY: dict[JsonPath, tuple[str, ...]] = {
    ("referenceImages",): ("containsHuman",),
    ("referenceVideos",): ("duration",),
}


def _is_ratio_schema(schema: dict[str, Any]) -> bool:
    return any(isinstance(v, str) and ":" in v for v in schema.get("enum", ()))


class JobValidator:
    """Validates jobs for the models of one registry; compiled validators and shape results are cached."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        self._shapes: dict[str, _ShapeResult] = {}
        self._groups = {m.option_group for m in registry.models.values()}

    def _validator(self, model: Model) -> jsonschema.protocols.Validator:
        validator = self._validators.get(model.id)
        if validator is None:
            schema = model.job_schema()
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
            validator = self._validators[model.id] = cls(schema)
        return validator

    def check(self, data: dict[str, Any], model: Model) -> _ShapeResult:
        """Schema + rules + request body for one job's shape (cached by shape)."""
        prompt = data.get("prompt")
        shape = dict(data, id="x", prompt="p" if isinstance(prompt, str) and prompt else prompt)
        key = canonical_json(shape)
        result = self._shapes.get(key)
        if result is None:
            result = self._shapes[key] = self._check_shape(shape, model)
        return result

    def _check_shape(self, job: dict[str, Any], model: Model) -> _ShapeResult:
        findings: list[_Finding] = []
        for error in self._validator(model).iter_errors(job):
            findings.extend(self._describe(error, model, job))
        findings = _collapse(findings)
        if findings:
            return _ShapeResult(tuple(findings), None)
        try:
            problems = model.check(job)
        except Exception as exc:  # a plugin bug is reported against the job, not raised at the user
            return _ShapeResult((_Finding((), f"plugin {model.plugin!r} failed checking {model.id}: {exc!r}"),), None)
        for p in problems:
            message = f"{dotted(p.path)}: {p.message}" if p.path else p.message
            if p.drop:
                message += "; it is not sent"
            findings.append(_Finding(p.path, f"{message} ({model.id})", p.severity, p.hint))
        if any(f.severity == "error" for f in findings):
            return _ShapeResult(tuple(findings), None)
        try:
            body = model.build_request(job, problems)
        except Exception as exc:
            return _ShapeResult((_Finding((), f"plugin {model.plugin!r} failed building the request: {exc!r}"),),
                                None)
        return _ShapeResult(tuple(findings), body)

    def _describe(self, error: jsonschema.ValidationError, model: Model, job: dict[str, Any]) -> list[_Finding]:
        path = tuple(error.absolute_path)
        where = dotted(path)
        kind = error.validator
        schema = error.schema if isinstance(error.schema, dict) else {}
        instance = error.instance
        tag = f" ({model.id})"
        if kind == "additionalProperties" and isinstance(instance, dict):
            allowed = list(schema.get("properties", {}))
            out = []
            for key in instance:
                if key in allowed:
                    continue
                kpath = (*path, key)
                if path == ("options",) and key in self._groups and isinstance(instance[key], dict):
                    flat = ", ".join(f"{k}: {_fmt(v)}" for k, v in instance[key].items())
                    out.append(_Finding(kpath, f"options are flat: write `options: {{{flat}}}`, not "
                                        f"`options: {{{key}: {{...}}}}`{tag}", at_key=True))
                elif key in _BACKEND_ONLY.get(path[:1], ()):
                    out.append(_Finding(kpath, f"{dotted(kpath)}: {key} is backend-only: the backend works it out, "
                                        f"and the API must not be sent it{tag}", hint=f"remove {key}", at_key=True))
                elif path == ("options",) and key in model.rejected_options:
                    out.append(_Finding(kpath, f"{dotted(kpath)}: {model.rejected_options[key]}{tag}", at_key=True))
                else:
                    what = "option" if path == ("options",) else "key"
                    hint = suggest(key, allowed) or (f"allowed: {', '.join(allowed)}" if allowed else None)
                    if not allowed:
                        hint = f"{model.id} takes no {where}"
                    out.append(_Finding(kpath, f"{dotted(kpath)}: unknown {what} for {model.id}", hint=hint,
                                        at_key=True))
            return out
        if kind == "required":
            missing = [k for k in error.validator_value if k not in instance]
            hints = {"prompt": "write the text of the video in `prompt:`",
                     "url": "give the http(s) URL of the file", "role": "first_frame, last_frame or reference_image"}
            return [_Finding(path, f"{where}: missing required key {k!r}{tag}" if path else
                             f"missing required key {k!r}{tag}", hint=hints.get(k)) for k in missing]
        if kind == "enum":
            allowed = error.validator_value
            hint = suggest(instance, allowed)
            if isinstance(instance, int) and not isinstance(instance, bool) and _is_ratio_schema(schema):
                hint = 'quote the ratio, e.g. "16:9" (unquoted 16:9 in YAML 1.1 is the number 969)'
            return [_Finding(path, f"{where}: {_fmt(instance)} is not one of "
                             f"{', '.join(_fmt(a) for a in allowed)}{tag}", hint=hint)]
        if kind == "const":
            return [_Finding(path, f"{where}: must be {_fmt(error.validator_value)}{tag}")]
        if kind == "type":
            wanted = error.validator_value
            wanted = " or ".join(_TYPE_NAMES.get(t, t) for t in (wanted if isinstance(wanted, list) else [wanted]))
            hint = None
            if _is_ratio_schema(schema) and isinstance(instance, int | float):
                hint = 'quote the ratio, e.g. "16:9" (unquoted 16:9 in YAML 1.1 is the number 969)'
            elif isinstance(instance, str) and "integer" in str(error.validator_value):
                hint = "write the number without quotes"
            elif isinstance(instance, str) and error.validator_value == "boolean":
                hint = "write true or false without quotes"
            shown = f'"{instance}"' if isinstance(instance, str) else _fmt(instance)
            return [_Finding(path, f"{where}: expected {wanted}, got {_type_name(instance)} {shown}{tag}",
                             hint=hint)]
        if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            low, high = schema.get("minimum"), schema.get("maximum")
            if low is not None and high is not None:
                bound = f"out of range {low} to {high}"
            elif low is not None:
                bound = f"below the minimum {low}"
            else:
                bound = f"above the maximum {high}"
            return [_Finding(path, f"{where}: {_fmt(instance)} is {bound}{tag}")]
        if kind == "pattern":
            if path and path[-1] == "url":
                return [_Finding(path, f"{where}: {_fmt(instance)} is not an http(s) URL{tag}",
                                 hint="reference files must be reachable by the server over http or https")]
            return [_Finding(path, f"{where}: {_fmt(instance)} does not match {error.validator_value}{tag}")]
        if kind == "minLength":
            return [_Finding(path, f"{where}: must not be empty{tag}")]
        if kind in ("maxItems", "minItems"):
            word = "at most" if kind == "maxItems" else "at least"
            return [_Finding(path, f"{where}: {model.id} takes {word} {error.validator_value} item(s), "
                             f"this job has {len(instance)}")]
        message = error.message if len(error.message) < 200 else error.message[:197] + "..."
        return [_Finding(path, f"{where}: {message}{tag}")]


def _collapse(findings: list[_Finding]) -> list[_Finding]:
    """One error per place: a type error makes the enum/range errors at the same path noise."""
    typed = {f.path for f in findings if " expected " in f.message}
    return [f for f in findings if f.path not in typed or " expected " in f.message]


def locate(job: ExpandedJob, path: JsonPath, at_key: bool = False) -> tuple[int, int]:
    """The 1-based position in the file that a path inside an expanded job comes from.

    The job's own entry wins over ``defaults``; a model set by the matrix points at the matrix; a path
    that exists in neither (a missing key) points at its nearest ancestor that does.
    """
    if path[:1] == ("model",) and "model" in job.matrix_positions:
        return job.matrix_positions["model"]
    for depth in range(len(path), -1, -1):
        sub = path[:depth]
        for node in (job.node, job.defaults):
            pos = walk_position(node, sub, at_key=at_key and depth == len(path))
            if pos is not None and (depth > 0 or node is job.node):
                return pos
    return node_position(job.node) or (1, 1)


def validate_expansion(jobs: list[ExpandedJob], file: str, registry: Registry) -> tuple[list[PlannedJob],
                                                                                         list[Diagnostic]]:
    """Validate expanded jobs and build their requests. Returns the valid jobs and every diagnostic."""
    validator = JobValidator(registry)
    planned: list[PlannedJob] = []
    diagnostics: list[Diagnostic] = []
    found: dict[tuple[int, int, str, str, str | None], list[str]] = {}
    known = registry.ids()
    for job in jobs:
        data = job.data
        model_id = data.get("model")
        if model_id is None:
            line, col = node_position(job.node) or (1, 1)
            diagnostics.append(Diagnostic(file, line, col, f"job {job.id!r} has no model",
                                          hint="set `model:` in the job or in `defaults:`"))
            continue
        model = registry.get(model_id) if isinstance(model_id, str) else None
        if model is None:
            line, col = locate(job, ("model",))
            hint = suggest(str(model_id), known) or f"known models: {', '.join(known)}"
            diagnostics.append(Diagnostic(file, line, col, f"model: unknown model {_fmt(model_id)}", hint=hint))
            continue
        result = validator.check(data, model)
        warnings = []
        for finding in result.findings:
            line, col = locate(job, finding.path, finding.at_key)
            found.setdefault((line, col, finding.message, finding.severity, finding.hint), []).append(job.id)
            if finding.severity == "warning":
                warnings.append(finding.message)
        if result.body is None:
            continue
        body = dict(result.body)
        body["prompt"] = data["prompt"]
        planned.append(PlannedJob(job.id, model.id, body, content_hash(body), tuple(warnings)))
    for (line, col, message, severity, hint), ids in found.items():
        diagnostics.append(Diagnostic(file, line, col, _with_jobs(message, ids), severity, hint))  # type: ignore[arg-type]
    return planned, diagnostics


def _with_jobs(message: str, ids: list[str]) -> str:
    """Name the job(s) a finding is about: many matrix jobs can share one place in the file."""
    shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    label = "job" if len(ids) == 1 else f"{len(ids)} jobs:"
    if message.endswith(")"):
        return f"{message[:-1]}; {label} {shown})"
    return f"{message} ({label} {shown})"


def load_campaign(path: str | Path, registry: Registry | None = None) -> Campaign:
    """Load, expand and validate a campaign file.

    Returns the `Campaign` with every job's request body; raises `SpecError` with every located
    diagnostic of the file (all errors in one pass, warnings too) when anything is wrong.
    """
    path = Path(path)
    registry = registry or get_registry()
    file = str(path)
    doc = load_document(path)
    expansion = expand(doc, file)
    planned, diagnostics = validate_expansion(expansion.jobs, file, registry)
    diagnostics = sort_diagnostics([*expansion.diagnostics, *diagnostics])
    if any(d.severity == "error" for d in diagnostics):
        raise SpecError(diagnostics)
    assert expansion.campaign is not None  # no errors means the campaign slug was valid
    output = Path(expansion.output) if expansion.output else Path("out") / expansion.campaign
    return Campaign(expansion.campaign, output, path, planned, diagnostics)
