"""Expand a loaded campaign into jobs: defaults merged under each job, ``vars`` and matrix placeholders
filled, matrix cross products (with ``exclude``), ids normalised and checked for duplicates.

Each `ExpandedJob` keeps a pointer to the YAML nodes it came from, so a problem found later (by the
schema or a plugin rule) can still be reported at the right line and column.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .diagnostics import Diagnostic, suggest
from .spec import key_position, node_position, value_position
from .templates import TemplateError, parse

FORMAT_VERSION = 1
TOP_KEYS = ("version", "campaign", "output", "defaults", "vars", "jobs")
JOB_FIELDS = ("model", "prompt", "numVideos", "options", "referenceImages", "referenceVideos", "elementIDs")
JOB_KEYS = ("id", *JOB_FIELDS, "matrix")
CAMPAIGN_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]*")
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Pos = tuple[int, int]


@dataclass
class ExpandedJob:
    """One job after expansion, as a plain dict, with the YAML nodes it came from."""

    data: dict[str, Any]
    node: CommentedMap
    defaults: CommentedMap | None
    matrix_positions: dict[str, Pos] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The job's id in the campaign."""
        return self.data["id"]


@dataclass
class Expansion:
    """The result of expanding a campaign document."""

    campaign: str | None
    output: str | None
    jobs: list[ExpandedJob]
    diagnostics: list[Diagnostic]


def to_plain(value: Any) -> Any:
    """ruamel.yaml's round-trip types as plain Python values (dates become ISO text)."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    return value


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged onto ``base``: mappings merge key by key, anything else (lists included) replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class _Reporter:
    def __init__(self, file: str):
        self.file = file
        self.diagnostics: list[Diagnostic] = []

    def error(self, pos: Pos | None, message: str, hint: str | None = None) -> None:
        line, col = pos or (1, 1)
        self.diagnostics.append(Diagnostic(self.file, line, col, message, "error", hint))

    def warning(self, pos: Pos | None, message: str, hint: str | None = None) -> None:
        line, col = pos or (1, 1)
        self.diagnostics.append(Diagnostic(self.file, line, col, message, "warning", hint))

    def unknown_keys(self, node: CommentedMap, allowed: tuple[str, ...], where: str) -> None:
        for key in node:
            if key not in allowed:
                hint = suggest(str(key), allowed) or f"allowed: {', '.join(allowed)}"
                self.error(key_position(node, key), f"unknown key {str(key)!r} in {where}", hint)


def expand(doc: CommentedMap, file: str) -> Expansion:
    """Check the campaign's top level and expand its jobs. Never raises for bad input: it reports."""
    rep = _Reporter(file)
    rep.unknown_keys(doc, TOP_KEYS, "the campaign")

    version = doc.get("version")
    if "version" not in doc:
        rep.error((1, 1), "missing required key 'version'", "add `version: 1` at the top")
    elif version != FORMAT_VERSION or isinstance(version, bool):
        rep.error(value_position(doc, "version"), f"version: {version!r} is not supported; only 1 exists")

    campaign = doc.get("campaign")
    if "campaign" not in doc:
        rep.error((1, 1), "missing required key 'campaign'", "name it with a slug such as `campaign: spring-launch`")
        campaign = None
    elif not isinstance(campaign, str) or not CAMPAIGN_SLUG.fullmatch(campaign):
        rep.error(value_position(doc, "campaign"),
                  f"campaign: {campaign!r} is not a slug: lowercase letters, digits, '.', '_' and '-', "
                  "starting with a letter or digit")
        campaign = None

    output = doc.get("output")
    if "output" in doc and (not isinstance(output, str) or not output.strip()):
        rep.error(value_position(doc, "output"), "output: must be a folder path (text)")
        output = None

    defaults = doc.get("defaults")
    if defaults is not None and not isinstance(defaults, CommentedMap):
        rep.error(value_position(doc, "defaults"), "defaults: must be a mapping of job fields")
        defaults = None
    if defaults is not None:
        rep.unknown_keys(defaults, JOB_FIELDS, "defaults")
    defaults_plain = {k: to_plain(v) for k, v in (defaults or {}).items() if k in JOB_FIELDS}

    variables: dict[str, Any] = {}
    vars_node = doc.get("vars")
    if vars_node is not None and not isinstance(vars_node, CommentedMap):
        rep.error(value_position(doc, "vars"), "vars: must be a mapping of names to values")
    elif vars_node is not None:
        for key, value in vars_node.items():
            if not isinstance(key, str) or not VAR_NAME.fullmatch(key):
                rep.error(key_position(vars_node, key),
                          f"vars: {key!r} is not a placeholder name (letters, digits and _, not starting "
                          "with a digit)")
            else:
                variables[key] = to_plain(value)

    jobs_node = doc.get("jobs")
    jobs: list[ExpandedJob] = []
    if "jobs" not in doc:
        rep.error((1, 1), "missing required key 'jobs'", "list at least one job under `jobs:`")
    elif not isinstance(jobs_node, CommentedSeq) or not jobs_node:
        rep.error(value_position(doc, "jobs"), "jobs: must be a non-empty list of jobs")
    else:
        seen: dict[str, Pos | None] = {}
        for index, entry in enumerate(jobs_node):
            pos = value_position(jobs_node, index)
            if not isinstance(entry, CommentedMap):
                rep.error(pos, f"jobs[{index}]: a job is a mapping with id, prompt, options, ...")
                continue
            for job in _expand_entry(entry, pos, defaults, defaults_plain, variables, rep):
                first = seen.get(job.id, False)
                if first is not False:
                    where = f" (first at line {first[0]})" if first else ""
                    rep.error(value_position(entry, "id") or pos,
                              f"duplicate job id {job.id!r}{where}",
                              "ids must be unique after expansion: add a placeholder such as {model} to the id")
                    continue
                seen[job.id] = value_position(entry, "id") or pos
                jobs.append(job)
    return Expansion(campaign, output, jobs, rep.diagnostics)


def _expand_entry(
    entry: CommentedMap,
    pos: Pos | None,
    defaults: CommentedMap | None,
    defaults_plain: dict[str, Any],
    variables: dict[str, Any],
    rep: _Reporter,
) -> Iterator[ExpandedJob]:
    rep.unknown_keys(entry, JOB_KEYS, "a job")
    raw_id = entry.get("id")
    id_pos = value_position(entry, "id") or pos
    if "id" not in entry:
        rep.error(pos, "job has no 'id'", "give every job a unique id, e.g. `id: hero`")
        return
    if not isinstance(raw_id, str) or not raw_id:
        rep.error(id_pos, f"id: {raw_id!r} must be text such as `hero` or `social-{{model}}`")
        return
    try:
        id_template = parse(raw_id)
    except TemplateError as exc:
        rep.error(id_pos, f"id: {exc}")
        return
    # Judge the text as written, each placeholder standing for a harmless letter: `a/../b` is refused
    # here, whatever the placeholders later bring.
    if not JOB_ID.fullmatch("x".join(id_template.parts[::2])):
        rep.error(id_pos, f"id: {raw_id!r} is not a valid id",
                  "use letters, digits, '.', '_' and '-' (no '/', not starting with '.')")
        return

    combos, matrix_positions = _matrix(entry, rep)
    if combos is None:
        return
    own = {k: to_plain(v) for k, v in entry.items() if k in JOB_FIELDS}
    merged = deep_merge(defaults_plain, own)
    try:
        filler = _compile(merged)
    except _PathTemplateError as exc:
        rep.error(_locate_template(entry, defaults, exc.path, pos), f"{_dotted(exc.path)}: {exc.message}")
        return

    reported: set[str] = set()
    for combo in combos:
        values = {**variables, **combo}
        model = combo.get("model", merged.get("model"))
        if isinstance(model, str) and "{" in model:
            with contextlib.suppress(TemplateError):  # reported below, with the other fields
                model = parse(model).fill(values)
        values["model"] = model if model is not None else ""
        errors: list[_PathTemplateError] = []
        data = filler(values, errors) if _is_filler(filler) else dict(filler)
        if "model" in combo:
            data["model"] = combo["model"]
        for exc in errors:
            key = f"{exc.path}:{exc.message}"
            if key not in reported:
                reported.add(key)
                rep.error(_locate_template(entry, defaults, exc.path, pos), f"{_dotted(exc.path)}: {exc.message}")
        try:
            job_id = id_template.fill(values, normalise=True)
        except TemplateError as exc:
            if str(exc) not in reported:
                reported.add(str(exc))
                rep.error(id_pos, f"id: {exc}")
            continue
        if not JOB_ID.fullmatch(job_id):
            rep.error(id_pos, f"id: {raw_id!r} expands to {job_id!r}, which is not a valid id",
                      "ids must start with a letter or digit")
            continue
        data = {"id": job_id, **data}
        yield ExpandedJob(data, entry, defaults, matrix_positions)


def _matrix(entry: CommentedMap, rep: _Reporter) -> tuple[list[dict[str, Any]] | None, dict[str, Pos]]:
    """The matrix's combinations in the order written (one empty combination without a matrix)."""
    node = entry.get("matrix")
    if "matrix" not in entry:
        return [{}], {}
    mpos = value_position(entry, "matrix")
    if not isinstance(node, CommentedMap) or not node:
        rep.error(mpos, "matrix: must be a mapping of names to lists of values")
        return None, {}
    axes: list[tuple[str, list[Any], CommentedSeq]] = []
    ok = True
    for key, values in node.items():
        if key == "exclude":
            continue
        if not isinstance(key, str) or not VAR_NAME.fullmatch(key):
            rep.error(key_position(node, key), f"matrix: {key!r} is not a placeholder name")
            ok = False
        elif not isinstance(values, CommentedSeq) or not values:
            rep.error(value_position(node, key) or key_position(node, key),
                      f"matrix.{key}: must be a non-empty list of values")
            ok = False
        else:
            axes.append((key, [to_plain(v) for v in values], values))
    if not ok:
        return None, {}
    names = [a[0] for a in axes]
    combos: list[dict[str, Any]] = []
    positions: list[dict[str, Pos]] = []
    for picks in itertools.product(*(range(len(a[1])) for a in axes)):
        combos.append({name: axes[i][1][p] for i, (name, p) in enumerate(zip(names, picks, strict=True))})
        positions.append({name: value_position(axes[i][2], p) or (1, 1) for i, (name, p) in
                          enumerate(zip(names, picks, strict=True))})
    excludes = node.get("exclude")
    if excludes is not None:
        combos = _apply_excludes(node, excludes, names, combos, rep)
        if combos is None:
            return None, {}
    # Where the matrix sets the model, errors about the model point at the matrix value; with several
    # values that is per combination, so keep the key's position as the stable place.
    matrix_positions = {"model": value_position(node, "model")} if "model" in names else {}
    return combos, {k: v for k, v in matrix_positions.items() if v}


def _apply_excludes(node: CommentedMap, excludes: Any, names: list[str], combos: list[dict[str, Any]],
                    rep: _Reporter) -> list[dict[str, Any]] | None:
    epos = value_position(node, "exclude")
    if not isinstance(excludes, CommentedSeq):
        rep.error(epos, "matrix.exclude: must be a list of partial combinations, e.g. [{model: a, ratio: '9:16'}]")
        return None
    rules: list[dict[str, Any]] = []
    for i, rule in enumerate(excludes):
        rpos = value_position(excludes, i)
        if not isinstance(rule, CommentedMap) or not rule:
            rep.error(rpos, f"matrix.exclude[{i}]: must be a mapping such as {{model: veo-3.1}}")
            return None
        for key in rule:
            if key not in names:
                rep.error(key_position(rule, key), f"matrix.exclude[{i}]: {key!r} is not a matrix key",
                          suggest(str(key), names))
                return None
        rules.append({k: to_plain(v) for k, v in rule.items()})
    kept = []
    used = [False] * len(rules)
    for combo in combos:
        hit = False
        for i, rule in enumerate(rules):
            if all(combo.get(k) == v for k, v in rule.items()):
                used[i] = hit = True
        if not hit:
            kept.append(combo)
    for i, was_used in enumerate(used):
        if not was_used:
            rep.warning(value_position(excludes, i), f"matrix.exclude[{i}] matches no combination")
    return kept


class _PathTemplateError(Exception):
    def __init__(self, path: tuple[str | int, ...], message: str):
        super().__init__(message)
        self.path = path
        self.message = message


Filler = Callable[[dict[str, Any], list["_PathTemplateError"]], Any]


def _compile(value: Any, path: tuple[str | int, ...] = ()) -> Any:
    """A function ``fill(values, errors)`` that fills placeholders in ``value``, or the value itself when it
    has none. A placeholder that cannot be filled is appended to ``errors`` and its text kept, so the rest of
    the job is still checked. Untemplated parts are shared between jobs, so jobs are read-only by contract."""
    if isinstance(value, str):
        try:
            template = parse(value)
        except TemplateError as exc:
            raise _PathTemplateError(path, str(exc)) from None
        if len(template.parts) == 1:
            return template.parts[0]

        def fill_str(values: dict[str, Any], errors: list[_PathTemplateError]) -> Any:
            try:
                return template.fill(values)
            except TemplateError as exc:
                errors.append(_PathTemplateError(path, str(exc)))
                return value

        fill_str.is_filler = True  # type: ignore[attr-defined]
        return fill_str
    if isinstance(value, dict):
        parts = {k: _compile(v, (*path, k)) for k, v in value.items()}
        dynamic = [k for k, v in parts.items() if _is_filler(v)]
        if not dynamic:
            return value

        def fill_dict(values: dict[str, Any], errors: list[_PathTemplateError]) -> dict[str, Any]:
            return {k: (v(values, errors) if k in dynamic else v) for k, v in parts.items()}

        fill_dict.is_filler = True  # type: ignore[attr-defined]
        return fill_dict
    if isinstance(value, list):
        items = [_compile(v, (*path, i)) for i, v in enumerate(value)]
        if not any(_is_filler(v) for v in items):
            return value

        def fill_list(values: dict[str, Any], errors: list[_PathTemplateError]) -> list[Any]:
            return [v(values, errors) if _is_filler(v) else v for v in items]

        fill_list.is_filler = True  # type: ignore[attr-defined]
        return fill_list
    return value


def _is_filler(value: Any) -> bool:
    return getattr(value, "is_filler", False)


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "job"


def _locate_template(entry: CommentedMap, defaults: CommentedMap | None, path: tuple[str | int, ...],
                     fallback: Pos | None) -> Pos | None:
    for node in (entry, defaults):
        pos = walk_position(node, path)
        if pos is not None:
            return pos
    return fallback


def walk_position(node: Any, path: tuple[str | int, ...], at_key: bool = False) -> Pos | None:
    """The position of ``path`` inside a ruamel node: the value's (or, with ``at_key``, the last key's),
    or None when the path is not there."""
    if node is None:
        return None
    pos = node_position(node)
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, CommentedMap) and part in node:
            pos = key_position(node, part) if (last and at_key) else value_position(node, part)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            pos = value_position(node, part)
            node = node[part]
        else:
            return None
    return pos
