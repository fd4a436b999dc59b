"""Validate expanded jobs against their model's JSON Schema and rules, and build each request body.

Every problem becomes a located `Diagnostic` (file:line:column of the offending key or value). Each model's
validator is compiled once, and each distinct job *shape* (the job without its id and prompt) is validated
and turned into a request once, however many matrix jobs share it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from json.encoder import encode_basestring  # what json.dumps(..., ensure_ascii=False) writes for a str
from typing import Any

import jsonschema

from ..assets.local import LocalFiles
from ..campaign import PlannedJob, canonical_json, content_hash
from ..models import JsonPath, Model, Problem
from ..plugins import Registry
from .diagnostics import Diagnostic, suggest
from .document import node_position, walk_position
from .expand import ExpandedJob
from .files import with_files
from .text import dotted, show


@dataclass(frozen=True)
class _Finding:
    path: JsonPath
    message: str
    severity: str = "error"
    hint: str | None = None
    at_key: bool = False


@dataclass
class _ShapeResult:
    findings: tuple[_Finding, ...]
    body: dict[str, Any] | None  # None when the shape has errors
    warnings: tuple[str, ...] = ()
    _hasher: tuple[Any, bytes] | None = field(default=None, repr=False)
    _hasher_ready: bool = field(default=False, repr=False)

    def content_hash(self, body: dict[str, Any]) -> str:
        """`jobs.content_hash` of a job's body (this shape's body with the job's prompt), without encoding
        the whole body again: the canonical JSON around the prompt is the same for every job of the shape."""
        if not self._hasher_ready:
            self._hasher = _prompt_hasher(self.body) if self.body is not None else None
            self._hasher_ready = True
        prompt = body.get("prompt")
        if self._hasher is None or type(prompt) is not str:
            return content_hash(body)
        before, after = self._hasher
        digest = before.copy()
        digest.update(encode_basestring(prompt).encode())
        digest.update(after)
        return digest.hexdigest()


_MARKER = "\x00photogpt-batch prompt\x00"


def _prompt_hasher(body: dict[str, Any]) -> tuple[Any, bytes] | None:
    """(sha256 fed with the canonical JSON before the prompt's value, the JSON after it), or None when the
    marker cannot be found exactly once (a value that contains it)."""
    text = canonical_json(dict(body, prompt=_MARKER))
    marker = encode_basestring(_MARKER)
    if text.count(marker) != 1:
        return None
    before, after = text.split(marker)
    return hashlib.sha256(before.encode()), after.encode()


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


#: Fields the vendor says the backend computes; its API reference: never send them.
_BACKEND_ONLY: dict[JsonPath, tuple[str, ...]] = {
    ("referenceImages",): ("containsHuman",),
    ("referenceVideos",): ("duration",),
}


def _is_ratio_schema(schema: dict[str, Any]) -> bool:
    return any(isinstance(v, str) and ":" in v for v in schema.get("enum", ()))


def _is_integer(checker: Any, instance: Any) -> bool:
    # JSON Schema counts 8.0 as an integer; the API does not (the body would carry 8.0), and neither do we.
    return isinstance(instance, int) and not isinstance(instance, bool)


def _strict(cls: Any) -> Any:
    """``cls`` with an "integer" that means a whole number written as one (``8``, not ``8.0`` or ``true``)."""
    return jsonschema.validators.extend(cls, type_checker=cls.TYPE_CHECKER.redefine("integer", _is_integer))


class JobValidator:
    """Validates jobs for the models of one registry; compiled validators and shape results are cached."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        self._shapes: dict[tuple[str, Hashable], _ShapeResult] = {}
        self._groups = {m.option_group for m in registry.models.values()}

    def _validator(self, model: Model) -> jsonschema.protocols.Validator:
        validator = self._validators.get(model.id)
        if validator is None:
            schema = model.job_schema()
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
            validator = self._validators[model.id] = _strict(cls)(schema)
        return validator

    def check(self, data: dict[str, Any], model: Model, key: Hashable | None = None) -> _ShapeResult:
        """Schema + rules + request body for one job's shape (cached by shape).

        The shape is the job with a fixed id and, when it is non-empty text, a fixed prompt. ``key``, when
        given, must identify the shape (`ExpandedJob.shape_key`); without it the shape's JSON is the key.
        """
        shape = None
        if key is None:
            shape = _shape(data)
            key = canonical_json(shape)
        key = (model.id, key)
        result = self._shapes.get(key)
        if result is None:
            result = self._shapes[key] = self._check_shape(shape or _shape(data), model)
        return result

    def _check_shape(self, job: dict[str, Any], model: Model) -> _ShapeResult:
        tag = f"plugin {model.plugin!r}"
        findings: list[_Finding] = []
        try:
            for error in self._validator(model).iter_errors(job):
                findings.extend(self._describe(error, model, job))
        except Exception as exc:  # a third-party model whose declared schema is itself broken
            return _ShapeResult((_Finding((), f"{tag} declares an invalid schema: {exc!r} ({model.id})"),), None)
        findings = _collapse(findings)
        if findings:
            return _ShapeResult(tuple(findings), None)
        try:
            problems = list(model.check(job))
            for p in problems:
                if not isinstance(p, Problem):
                    raise TypeError(f"a rule returned {type(p).__name__}, not a Problem")
                findings.append(_rule_finding(p, model))
        except Exception as exc:  # a plugin bug is reported against the job, not raised at the user
            return _ShapeResult((_Finding((), f"{tag} failed checking: {exc!r} ({model.id})"),), None)
        if any(f.severity == "error" for f in findings):
            return _ShapeResult(tuple(findings), None)
        try:
            body = model.build_request(job, problems)
            canonical_json(body)  # a body that JSON cannot encode is the plugin's bug, reported here
        except Exception as exc:
            return _ShapeResult((_Finding((), f"{tag} failed building the request: {exc!r} ({model.id})"),),
                                None)
        warnings = tuple(f.message for f in findings if f.severity == "warning")
        return _ShapeResult(tuple(findings), body, warnings)

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
                    flat = ", ".join(f"{k}: {show(v)}" for k, v in instance[key].items())
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
                     "url": "give the http(s) URL of the file, or a local file with `file:`",
                     "role": "first_frame, last_frame or reference_image"}
            return [_Finding(path, f"{where}: missing required key {k!r}{tag}" if path else
                             f"missing required key {k!r}{tag}", hint=hints.get(k)) for k in missing]
        if kind == "enum":
            allowed = error.validator_value
            hint = suggest(instance, allowed)
            if isinstance(instance, int) and not isinstance(instance, bool) and _is_ratio_schema(schema):
                hint = 'quote the ratio, e.g. "16:9" (unquoted 16:9 in YAML 1.1 is the number 969)'
            return [_Finding(path, f"{where}: {show(instance)} is not one of "
                             f"{', '.join(show(a) for a in allowed)}{tag}", hint=hint)]
        if kind == "const":
            return [_Finding(path, f"{where}: must be {show(error.validator_value)}{tag}")]
        if kind == "type":
            wanted = error.validator_value
            wanted = " or ".join(str(_TYPE_NAMES.get(t, t)) for t in (wanted if isinstance(wanted, list) else [wanted]))
            hint = None
            if _is_ratio_schema(schema) and isinstance(instance, int | float):
                hint = 'quote the ratio, e.g. "16:9" (unquoted 16:9 in YAML 1.1 is the number 969)'
            elif "enum" in schema and isinstance(instance, int | float) and not isinstance(instance, bool):
                hint = suggest(str(instance), schema["enum"])  # resolution: 1080 -> '1080p'
            elif isinstance(instance, str) and "integer" in str(error.validator_value):
                hint = "write the number without quotes"
            elif isinstance(instance, str) and error.validator_value == "boolean":
                hint = "write true or false without quotes"
            got = _type_name(instance)
            if instance is not None and not isinstance(instance, dict | list):
                got += " " + (f'"{instance}"' if isinstance(instance, str) else show(instance))
            return [_Finding(path, f"{where}: expected {wanted}, got {got}{tag}", hint=hint)]
        if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            low, high = schema.get("minimum"), schema.get("maximum")
            if low is not None and high is not None:
                bound = f"out of range {low} to {high}"
            elif low is not None:
                bound = f"below the minimum {low}"
            else:
                bound = f"above the maximum {high}"
            return [_Finding(path, f"{where}: {show(instance)} is {bound}{tag}")]
        if kind == "pattern":
            if path and path[-1] == "url":
                return [_Finding(path, f"{where}: {show(instance)} is not an http(s) URL{tag}",
                                 hint="reference files must be reachable by the server over http or https")]
            return [_Finding(path, f"{where}: {show(instance)} does not match {error.validator_value}{tag}")]
        if kind == "minLength":
            return [_Finding(path, f"{where}: must not be empty{tag}")]
        if kind == "maxItems" and isinstance(instance, list):
            limit = error.validator_value
            return [_Finding((*path, i), f"{dotted((*path, i))}: {model.id} takes at most {limit} {where} "
                             f"item(s), this job has {len(instance)}{tag}", hint=f"keep at most {limit}")
                    for i in range(limit, len(instance))]
        if kind == "minItems":
            return [_Finding(path, f"{where}: {model.id} takes at least {error.validator_value} item(s), "
                             f"this job has {len(instance)}{tag}")]
        message = error.message if len(error.message) < 200 else error.message[:197] + "..."
        return [_Finding(path, f"{where}: {message}{tag}")]


def _shape(data: dict[str, Any]) -> dict[str, Any]:
    shape = dict(data, id="x")
    prompt = data.get("prompt")
    if isinstance(prompt, str) and prompt:
        shape["prompt"] = "p"
    return shape


def _rule_finding(p: Problem, model: Model) -> _Finding:
    message = f"{dotted(p.path)}: {p.message}" if p.path else p.message
    if p.drop and "not sent" not in message:
        message += "; it is not sent"
    return _Finding(tuple(p.path), f"{message} ({model.id})", p.severity, p.hint)


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


def validate_expansion(jobs: Iterable[ExpandedJob], file: str, registry: Registry, files: LocalFiles | None = None,
                       ) -> tuple[list[PlannedJob], list[Diagnostic]]:
    """Validate expanded jobs and build their requests. Returns the valid jobs and every diagnostic.

    ``files`` resolves the jobs' ``file:`` references (relative to the spec's folder); each is replaced by
    its content reference before the model sees the job, so the body holds the file's sha256, not its path.

    A finding shared by many jobs (the same message at the same place, as matrix jobs have) is reported
    once, naming the jobs. ``jobs`` may be an iterator: it is consumed once, one job at a time.
    """
    validator = JobValidator(registry)
    planned: list[PlannedJob] = []
    found: dict[tuple[str, int, int, str, str, str | None], list[str]] = {}
    positions: dict[Hashable, tuple[int, int]] = {}
    known = registry.ids()

    def report(job: ExpandedJob, path: JsonPath, at_key: bool, message: str, severity: str = "error",
               hint: str | None = None) -> None:
        cell = job.row.place(path) if job.row is not None else None
        if cell is not None:  # a value a row filled in: reported at that row's cell, in the data file
            where, (line, col), column = cell
            found.setdefault((where, line, col, f"column {column}: {message}", severity, hint), []).append(job.id)
            return
        key = (id(job.node), path, at_key, job.matrix_positions.get("model"))
        spot = positions.get(key)
        if spot is None:
            spot = positions[key] = locate(job, path, at_key)
        found.setdefault((file, *spot, message, severity, hint), []).append(job.id)

    for job in jobs:
        data = job.data
        if any(path[:1] == ("model",) for path in job.broken):
            continue  # its placeholder error is reported; there is no model to check against
        model_id = data.get("model")
        if model_id is None:
            report(job, (), False, "job has no model", hint="set `model:` in the job or in `defaults:`")
            continue
        model = registry.get(model_id) if isinstance(model_id, str) else None
        if model is None:
            hint = suggest(str(model_id), known) or f"known models: {', '.join(known)}"
            report(job, ("model",), False, f"model: unknown model {show(model_id)}", hint=hint)
            continue
        data, file_problems = with_files(data, files)
        for path, message, file_hint in file_problems:
            report(job, path, False, f"{message} ({model.id})", hint=file_hint)
        if file_problems:
            continue
        result = validator.check(data, model, job.shape_key)
        for finding in result.findings:
            if job.broken and any(finding.path[: len(b)] == b for b in job.broken):
                continue  # a placeholder that could not be filled: already reported at this place
            report(job, finding.path, finding.at_key, finding.message, finding.severity, finding.hint)
        if result.body is None or job.broken:
            continue
        body = dict(result.body)
        body["prompt"] = data["prompt"]
        planned.append(PlannedJob(job.id, model.id, body, result.content_hash(body), result.warnings, job.axes))
    diagnostics = [Diagnostic(where, line, col, _with_jobs(message, ids), severity, hint)  # type: ignore[arg-type]
                   for (where, line, col, message, severity, hint), ids in found.items()]
    return planned, diagnostics


def _with_jobs(message: str, ids: list[str]) -> str:
    """Name the job(s) a finding is about: many matrix jobs can share one place in the file.

    Findings about a model end with its id in parentheses, ``(veo-3.1)``; the jobs join it there.
    """
    shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    label = "job" if len(ids) == 1 else f"{len(ids)} jobs:"
    match = _MODEL_TAG.search(message)
    if match:
        return f"{message[:match.end() - 1]}; {label} {shown})"
    return f"{message} ({label} {shown})"


_MODEL_TAG = re.compile(r" \([A-Za-z0-9][A-Za-z0-9._-]*\)$")
