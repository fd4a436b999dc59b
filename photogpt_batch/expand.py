"""Expand a loaded campaign into jobs: defaults merged under each job, ``vars`` and matrix placeholders
filled, matrix cross products (with ``exclude``), ids normalised and checked for duplicates.

Each `ExpandedJob` keeps a pointer to the YAML nodes it came from, so a problem found later (by the
schema or a plugin rule) can still be reported at the right line and column.

Jobs are produced lazily (`iter_expand`): a 100,000-job matrix is validated one job at a time, never held
as a list of expanded jobs.
"""

from __future__ import annotations

import datetime
import itertools
import re
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Diagnostic, suggest
from .manifest import MANIFEST
from .spec import key_position, node_position, value_position
from .templates import Template, TemplateError, format_value, parse

FORMAT_VERSION = 1
TOP_KEYS = ("version", "campaign", "output", "defaults", "vars", "jobs")
JOB_FIELDS = ("model", "prompt", "numVideos", "options", "referenceImages", "referenceVideos", "elementIDs")
JOB_KEYS = ("id", *JOB_FIELDS, "matrix")
CAMPAIGN_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]*")
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: The longest final (expanded) job id. Each id names its output folder `<output>/<id>/`, and a name in a folder
#: may have at most 255 bytes on Linux, macOS and Windows: a longer id would validate, be submitted and paid for,
#: and then its video could never be saved. The tool's own files go inside that folder, so the id may use all of
#: it; a tighter limit would refuse campaigns that ran fine (and an id is a job's identity: renaming one orphans
#: its paid job). `JOB_ID` allows only ASCII, so characters are bytes.
MAX_ID_LENGTH = 255
VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Placeholder names the tool fills itself; a var or matrix key of that name would be silently ignored.
RESERVED_NAMES = ("model",)
#: What the tool itself writes at the top of the output folder, next to the job folders `<output>/<id>/`, by
#: `output_name_key`: an id that names one of them would make every run fail. The ledger's folder
#: (`ledger.LEDGER_DIR`) is not listed: it starts with '.', which no id does, and importing the ledger here
#: would load asyncio and sqlite3 for every `validate` (a test checks both).
OUTPUT_NAMES = {name.casefold(): name for name in (MANIFEST, MANIFEST + ".tmp")}

Pos = tuple[int, int]
JsonPath = tuple[str | int, ...]
#: A YAML mapping and sequence as loaded: ruamel's CommentedMap and CommentedSeq, which know their positions,
#: from `load_document`, or a plain dict and list from `load_plain`. Checks ask for ``dict`` and ``list``,
#: which both kinds are; the position helpers give None for the plain kind.
YamlMap = dict[Any, Any]
YamlSeq = list[Any]


@dataclass(slots=True)
class ExpandedJob:
    """One job after expansion, as a plain dict, with the YAML nodes it came from.

    ``matrix_positions`` maps a field the matrix set (``model``) to the position of that value in the
    matrix. ``broken`` holds the paths whose placeholders could not be filled (already reported), so the
    validator does not report them a second time. ``shape_key`` identifies the job's *shape* (the job
    without its id and prompt) among the jobs of its entry: jobs with equal keys validate alike.
    """

    data: dict[str, Any]
    node: YamlMap
    defaults: YamlMap | None
    matrix_positions: dict[str, Pos] = field(default_factory=dict)
    broken: tuple[JsonPath, ...] = ()
    shape_key: Hashable | None = None
    #: The matrix combination that made the job, as (axis, text) pairs (empty without a matrix).
    axes: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        """The job's id in the campaign."""
        return self.data["id"]


@dataclass
class Expansion:
    """The result of expanding a campaign document.

    From `iter_expand`, ``jobs`` is an iterator and ``diagnostics`` fills up while it is consumed; from
    `expand`, both are complete lists.
    """

    campaign: str | None
    output: str | None
    jobs: Iterable[ExpandedJob]
    diagnostics: list[Diagnostic]


def to_plain(value: Any) -> Any:
    """ruamel.yaml's round-trip types as plain Python values (dates become ISO text).

    Keys become text as YAML writes them (``null``, ``true``, ``3``); anything else unexpected becomes text,
    so the result is always JSON-ready.
    """
    if isinstance(value, dict):
        return {k if type(k) is str else _key_text(k): to_plain(v) for k, v in value.items()}
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
    tagged = getattr(value, "value", None)  # a `!!str 5` TaggedScalar
    if isinstance(tagged, str):
        return str(tagged)
    return str(value)


def _axis_text(value: Any) -> str:
    """A matrix value as ``--only axis=value`` spells it."""
    try:
        return format_value(to_plain(value))
    except TemplateError:
        return str(to_plain(value))


def _key_text(key: Any) -> str:
    try:
        return format_value(key)
    except TemplateError:
        return str(key)


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

    def unknown_keys(self, node: YamlMap, allowed: tuple[str, ...], where: str) -> None:
        for key in node:
            if key not in allowed:
                hint = suggest(str(key), allowed) or f"allowed: {', '.join(allowed)}"
                self.error(key_position(node, key), f"unknown key {_key_text(key)!r} in {where}", hint)


def expand(doc: YamlMap, file: str) -> Expansion:
    """Check the campaign's top level and expand all its jobs into a list. Never raises for bad input."""
    expansion = iter_expand(doc, file)
    expansion.jobs = list(expansion.jobs)
    return expansion


def iter_expand(doc: YamlMap, file: str) -> Expansion:
    """Check the campaign's top level now; expand its jobs lazily, reporting into ``diagnostics`` as they come."""
    rep = _Reporter(file)
    rep.unknown_keys(doc, TOP_KEYS, "the campaign")

    version = doc.get("version")
    if "version" not in doc:
        rep.error((1, 1), "missing required key 'version'", "add `version: 1` at the top")
    elif isinstance(version, bool) or not isinstance(version, int) or version != FORMAT_VERSION:
        rep.error(value_position(doc, "version"), f"version: {_show(version)} is not supported; only 1 exists",
                  "write `version: 1`")

    campaign = doc.get("campaign")
    if "campaign" not in doc:
        rep.error((1, 1), "missing required key 'campaign'", "name it with a slug such as `campaign: spring-launch`")
        campaign = None
    elif not isinstance(campaign, str) or not CAMPAIGN_SLUG.fullmatch(campaign):
        rep.error(value_position(doc, "campaign"),
                  f"campaign: {_show(campaign)} is not a slug: lowercase letters, digits, '.', '_' and '-', "
                  "starting with a letter or digit")
        campaign = None
    else:
        campaign = str(campaign)

    output = doc.get("output")
    if "output" in doc and (not isinstance(output, str) or not output.strip()):
        rep.error(value_position(doc, "output"), "output: must be a folder path (text)")
        output = None
    elif output is not None:
        output = str(output)

    defaults = doc.get("defaults")
    if "defaults" in doc and not isinstance(defaults, dict):
        rep.error(value_position(doc, "defaults"), "defaults: must be a mapping of job fields",
                  f"allowed keys: {', '.join(JOB_FIELDS)}")
        defaults = None
    if defaults is not None:
        rep.unknown_keys(defaults, JOB_FIELDS, "defaults")
    defaults_plain = {k: to_plain(v) for k, v in (defaults or {}).items() if k in JOB_FIELDS}

    variables: dict[str, Any] = {}
    vars_node = doc.get("vars")
    if "vars" in doc and not isinstance(vars_node, dict):
        rep.error(value_position(doc, "vars"), "vars: must be a mapping of names to values")
    elif vars_node is not None:
        for key, value in vars_node.items():
            if _check_name(key, key_position(vars_node, key), "vars", rep):
                variables[key] = to_plain(value)

    jobs_node = doc.get("jobs")
    jobs: Iterable[ExpandedJob] = ()
    if "jobs" not in doc:
        rep.error((1, 1), "missing required key 'jobs'", "list at least one job under `jobs:`")
    elif not isinstance(jobs_node, list) or not jobs_node:
        rep.error(value_position(doc, "jobs"), "jobs: must be a non-empty list of jobs")
    else:
        jobs = _jobs(jobs_node, defaults, defaults_plain, variables, rep)
    return Expansion(campaign, output, jobs, rep.diagnostics)


def _show(value: Any) -> str:
    """A value in a message, as YAML would write it."""
    if isinstance(value, str):
        return repr(value)
    try:
        return format_value(value)
    except TemplateError:
        return type(value).__name__


def _check_name(key: Any, pos: Pos | None, where: str, rep: _Reporter) -> bool:
    """Whether ``key`` may name a placeholder; reports why not."""
    if not isinstance(key, str) or not VAR_NAME.fullmatch(key):
        rep.error(pos, f"{where}: {_show(key)} is not a placeholder name (letters, digits and _, not starting "
                  "with a digit)")
        return False
    if key in RESERVED_NAMES and where == "vars":
        rep.error(pos, f"vars: {{{key}}} is always the job's model id, so this var would never be used",
                  "choose another name, or set the model with `model:` or a matrix key `model`")
        return False
    return True


def output_name_key(name: str) -> str:
    """``name`` as a file system that ignores case (macOS, Windows) and trailing dots (Windows) sees it."""
    return name.rstrip(".").casefold()


def _output_name_clash(raw_id: str, job_id: str) -> tuple[str, str] | None:
    """The message and hint for an id that names a file the tool writes in the output folder, else None."""
    name = OUTPUT_NAMES.get(output_name_key(job_id))
    if name is None:
        return None
    said = repr(raw_id) if job_id == raw_id else f"{raw_id!r} expands to {job_id!r}, which"
    message = (f"id: {said} clashes with the tool's own {name} in the output folder, where job folders are "
               "named by id (compared as macOS and Windows do: ignoring case and trailing dots)")
    if job_id == raw_id:
        return message, f"rename the job, e.g. `id: {job_id.rstrip('.').replace('.', '-')}`"
    return message, "rename the job: add text around the placeholder in the id, or change the value that fills it"


def _too_long_id(raw_id: str, job_id: str) -> tuple[str, str]:
    """The message and hint for a final id longer than `MAX_ID_LENGTH`; both ids shortened in the message."""
    why = (f"{len(job_id)} characters, more than the {MAX_ID_LENGTH} an id may have: it names the job's output "
           "folder")
    if job_id == raw_id:
        return (f"id: {_shorten(job_id)!r} is {why}",
                f"use a shorter id (at most {MAX_ID_LENGTH} characters) and keep the details in the prompt")
    return (f"id: {_shorten(raw_id)!r} expands to {_shorten(job_id)!r}, which is {why}",
            f"use a shorter id: shorten the text around the placeholders, or the values that fill them, so that "
            f"every id has at most {MAX_ID_LENGTH} characters")


def _shorten(text: str, limit: int = 60) -> str:
    """``text`` cut in the middle to ``limit`` characters, so one message stays one line in a terminal. The start
    and the end are kept: a matrix id's start is usually the entry's own text, its end what told the jobs apart.
    '…' cannot be in an id (`JOB_ID`), so it cannot be mistaken for part of it."""
    if len(text) <= limit:
        return text
    tail = limit // 3
    return text[: limit - tail - 1] + "…" + text[-tail:]


def _jobs(jobs_node: YamlSeq, defaults: YamlMap | None, defaults_plain: dict[str, Any],
          variables: dict[str, Any], rep: _Reporter) -> Iterator[ExpandedJob]:
    """Every entry's jobs in order; a job whose id was already taken is reported at its own entry, and still
    yielded so that its other problems are reported too (it is never planned: the duplicate is an error)."""
    # `output_name_key` of an id -> (entry index, line, id) of its first job: ids that differ only in case or
    # trailing dots name one output folder on macOS and Windows, so they are duplicates on every platform.
    seen: dict[str, tuple[int, int, str]] = {}
    reported: set[tuple[str, int]] = set()  # (output_name_key, entry index): one error per folder per entry
    for index, entry in enumerate(jobs_node):
        pos = value_position(jobs_node, index)
        if not isinstance(entry, dict):
            rep.error(pos, f"jobs[{index}]: a job is a mapping with id, prompt, options, ...")
            continue
        id_pos = value_position(entry, "id") or pos
        for job in _expand_entry(index, entry, pos, defaults, defaults_plain, variables, rep):
            if ("id",) not in job.broken:
                key = output_name_key(job.id)
                first = seen.get(key)
                if first is None:
                    seen[key] = (index, (id_pos or (1, 1))[0], job.id)
                elif (key, index) not in reported:
                    reported.add((key, index))
                    rep.error(id_pos, *_duplicate_id(job.id, first[2], first[0] == index, first[1]))
            yield job


def _duplicate_id(job_id: str, first_id: str, same_entry: bool, first_line: int) -> tuple[str, str]:
    """The message and hint for a job whose id, or its output folder, was taken by an earlier job."""
    if job_id == first_id:
        where = "another combination of this matrix gives it too" if same_entry else f"first at line {first_line}"
        return (f"duplicate job id {job_id!r} ({where})",
                "ids must be unique after expansion: add a placeholder such as {model} to the id")
    where = "another combination of this matrix" if same_entry else f"first at line {first_line}"
    if job_id.rstrip(".") == first_id.rstrip("."):
        why = "on Windows, which drops trailing dots"
    elif job_id.casefold() == first_id.casefold():
        why = "on macOS and Windows, which ignore case"
    else:
        why = "on macOS and Windows, which ignore case (and Windows drops trailing dots)"
    return (f"duplicate job id {job_id!r}: it names the same output folder as {first_id!r} ({where}) {why}",
            "rename one of the jobs: ids must differ in more than case and trailing dots, so that the campaign "
            "is valid on every platform")


def _expand_entry(
    index: int,
    entry: YamlMap,
    pos: Pos | None,
    defaults: YamlMap | None,
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
        hint = f'quote it: id: "{_show(raw_id)}"' if isinstance(raw_id, int | float) else None
        rep.error(id_pos, f"id: {_show(raw_id)} must be text such as `hero` or `social-{{model}}`", hint)
        return
    raw_id = str(raw_id)
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

    matrix = _Matrix.read(entry, rep)
    if matrix is None:
        return
    own = {k: to_plain(v) for k, v in entry.items() if k in JOB_FIELDS}
    merged = deep_merge(defaults_plain, own)

    compile_errors: list[tuple[JsonPath, str]] = []
    names: dict[str, set[str]] = {}
    fields = {k: _compile(v, (k,), compile_errors, names.setdefault(k, set())) for k, v in merged.items()}
    for path, message in compile_errors:
        rep.error(_locate_template(entry, defaults, path, pos), f"{_dotted(path)}: {message}")
    broken_paths = tuple(path for path, _ in compile_errors)
    # Names whose values can change the job's shape: every one used outside the prompt.
    shape_names = tuple(sorted(set().union(*(n for k, n in names.items() if k != "prompt"))))
    model_template = fields.get("model")

    reported: set[tuple[JsonPath, str]] = set()
    # Unlike the errors in `reported` (one per distinct text), a too-long id is reported once per entry: the ids
    # of a matrix are alike, so thousands of them can be too long, each one different.
    long_id_reported = False
    count = 0
    for combo in matrix.combos():
        count += 1
        values = {**variables, **combo}
        errors: list[tuple[JsonPath, str]] = []
        if "model" in combo:
            model = combo["model"]
        elif isinstance(model_template, _Filler):
            model = model_template(values, errors)
        else:
            model = model_template
        values["model"] = model if model is not None else ""
        data = {"id": raw_id}
        if "model" in combo or "model" in fields:
            data["model"] = model
        for k, v in fields.items():
            if k != "model":
                data[k] = v(values, errors) if isinstance(v, _Filler) else v
        broken = broken_paths
        for path, message in errors:
            broken = (*broken, path)
            if (path, message) not in reported:
                reported.add((path, message))
                rep.error(_locate_template(entry, defaults, path, pos), f"{_dotted(path)}: {message}")
        try:
            job_id = id_template.fill(values, normalise=True)
        except TemplateError as exc:
            if (("id",), str(exc)) not in reported:
                reported.add((("id",), str(exc)))
                rep.error(id_pos, f"id: {exc}")
            job_id, broken = raw_id, (*broken, ("id",))
        else:
            if not JOB_ID.fullmatch(job_id):
                if (("id",), job_id) not in reported:
                    reported.add((("id",), job_id))
                    rep.error(id_pos, f"id: {raw_id!r} expands to {job_id!r}, which is not a valid id",
                              "ids must start with a letter or digit; placeholders fill in the rest")
                broken = (*broken, ("id",))
            elif len(job_id) > MAX_ID_LENGTH:
                if not long_id_reported:
                    long_id_reported = True
                    rep.error(id_pos, *_too_long_id(raw_id, job_id))
                broken = (*broken, ("id",))
            elif (clash := _output_name_clash(raw_id, job_id)) is not None:
                if (("id",), job_id) not in reported:
                    reported.add((("id",), job_id))
                    rep.error(id_pos, *clash)
                broken = (*broken, ("id",))
        prompt = data.get("prompt", _MISSING)
        prompt_kind = True if type(prompt) is str and prompt else _value_key(prompt)
        if matrix.node is None:
            # One job from this entry: key its shape by content, so that the entries of a long explicit list
            # that differ only in id and prompt are validated (and turned into a request) once, not each.
            shape_key: Hashable = ("content", prompt_kind, _content_key(
                {k: v for k, v in data.items() if k not in ("id", "prompt")}))
        else:
            shape_key = (index, _value_key(model), prompt_kind, *(_value_key(values.get(n, _MISSING))
                                                                  for n in shape_names))
        data["id"] = job_id
        axes = tuple((k, _axis_text(v)) for k, v in combo.items() if k != "model")
        yield ExpandedJob(data, entry, defaults, matrix.positions(model), broken, shape_key, axes)
    if matrix.excludes is None:
        return
    exclude_node = matrix.node.get("exclude") if matrix.node is not None else None
    for i in matrix.unused_excludes():
        rep.warning(value_position(exclude_node, i), f"matrix.exclude[{i}] matches no combination",
                    "check its values against the matrix lists")
    if count == 0:
        rep.error(value_position(matrix.node, "exclude"), "matrix.exclude leaves no combination: this entry "
                  "makes no jobs", "remove the exclude rules that cover every combination")


_MISSING = object()


def _value_key(value: Any) -> Hashable:
    """A hashable stand-in for a value, equal only for values that are the same (``1`` is not ``true``)."""
    if value is None or type(value) in (str, int, float, bool):
        return (type(value), value)
    return ("object", id(value))  # matrix and vars values live as long as their entry is expanded


def _content_key(value: Any) -> Hashable:
    """A hashable stand-in for a loaded YAML value and everything in it, equal only for values that are the
    same, key order and types included (``1`` is not ``true`` nor ``1.0``)."""
    if isinstance(value, dict):
        return ("map", tuple((_content_key(k), _content_key(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("seq", tuple(_content_key(v) for v in value))
    return _value_key(value)


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


class _Matrix:
    """A job entry's matrix: its axes in the order written, its exclude rules and where its models are."""

    def __init__(self, node: YamlMap | None, axes: list[tuple[str, list[Any]]],
                 excludes: list[dict[str, Any]] | None, model_positions: dict[Hashable, dict[str, Pos]]):
        self.node = node
        self.axes = axes
        self.excludes = excludes
        self._model_positions = model_positions
        self._used = [False] * len(excludes or ())

    @classmethod
    def read(cls, entry: YamlMap, rep: _Reporter) -> _Matrix | None:
        """The entry's matrix (a single empty combination without one), or None after reporting errors."""
        if "matrix" not in entry:
            return cls(None, [], None, {})
        node = entry.get("matrix")
        mpos = value_position(entry, "matrix")
        if not isinstance(node, dict) or not node:
            rep.error(mpos, "matrix: must be a mapping of names to lists of values",
                      "e.g. matrix: {model: [veo-3.1, veo-3.1-fast], ratio: ['16:9', '9:16']}")
            return None
        axes: list[tuple[str, list[Any]]] = []
        model_positions: dict[Hashable, dict[str, Pos]] = {}
        ok = True
        for key, values in node.items():
            if key == "exclude":
                continue
            if not _check_name(key, key_position(node, key), "matrix", rep):
                ok = False
            elif not isinstance(values, list) or not values:
                rep.error(value_position(node, key) or key_position(node, key),
                          f"matrix.{key}: must be a non-empty list of values")
                ok = False
            else:
                plain = [to_plain(v) for v in values]
                axes.append((key, plain))
                if key == "model":
                    for i, value in enumerate(plain):
                        where = value_position(values, i) or value_position(node, key)
                        if where is not None:
                            model_positions.setdefault(_value_key(value), {"model": where})
        excludes = None
        if "exclude" in node:
            excludes = cls._read_excludes(node, [a[0] for a in axes], rep)
            ok = ok and excludes is not None
        if not ok:
            return None
        return cls(node, axes, excludes, model_positions)

    @staticmethod
    def _read_excludes(node: YamlMap, names: list[str], rep: _Reporter) -> list[dict[str, Any]] | None:
        excludes = node.get("exclude")
        if not isinstance(excludes, list):
            rep.error(value_position(node, "exclude"),
                      "matrix.exclude: must be a list of partial combinations, e.g. [{model: a, ratio: '9:16'}]")
            return None
        rules: list[dict[str, Any]] = []
        ok = True
        for i, rule in enumerate(excludes):
            if not isinstance(rule, dict) or not rule:
                rep.error(value_position(excludes, i), f"matrix.exclude[{i}]: must be a mapping such as "
                          "{model: veo-3.1}")
                ok = False
                continue
            for key in rule:
                if key not in names:
                    rep.error(key_position(rule, key), f"matrix.exclude[{i}]: {_show(key)} is not a matrix key",
                              suggest(str(key), names) or f"matrix keys: {', '.join(names)}")
                    ok = False
            rules.append({k: to_plain(v) for k, v in rule.items()})
        return rules if ok else None

    def combos(self) -> Iterator[dict[str, Any]]:
        """Every combination not excluded, as name -> value, in the order written (last key fastest)."""
        names = [a[0] for a in self.axes]
        rules = self.excludes or []
        for picks in itertools.product(*(a[1] for a in self.axes)):
            combo = dict(zip(names, picks, strict=True))
            hit = False
            for i, rule in enumerate(rules):
                if all(_same(combo[k], v) for k, v in rule.items()):
                    self._used[i] = hit = True
            if not hit:
                yield combo

    def positions(self, model: Any) -> dict[str, Pos]:
        """Where the matrix sets this model (shared between jobs: read-only)."""
        if not self._model_positions:
            return _NO_POSITIONS
        return self._model_positions.get(_value_key(model), _NO_POSITIONS)

    def unused_excludes(self) -> list[int]:
        """Indexes of the exclude rules that matched no combination (after `combos` ran to the end)."""
        return [i for i, used in enumerate(self._used) if not used]


_NO_POSITIONS: dict[str, Pos] = {}


class _Filler:
    """A part of a job with placeholders: called with the values of one combination, it returns that part
    filled in. A placeholder that cannot be filled is appended to ``errors`` and its text kept."""

    __slots__ = ()

    def __call__(self, values: dict[str, Any], errors: list[tuple[JsonPath, str]]) -> Any:
        raise NotImplementedError


class _Text(_Filler):
    __slots__ = ("path", "raw", "template")

    def __init__(self, template: Template, path: JsonPath, raw: str):
        self.template, self.path, self.raw = template, path, raw

    def __call__(self, values: dict[str, Any], errors: list[tuple[JsonPath, str]]) -> Any:
        try:
            return self.template.fill(values)
        except TemplateError as exc:
            errors.append((self.path, str(exc)))
            return self.raw


class _Map(_Filler):
    __slots__ = ("parts",)

    def __init__(self, parts: dict[str, Any]):
        self.parts = parts

    def __call__(self, values: dict[str, Any], errors: list[tuple[JsonPath, str]]) -> dict[str, Any]:
        return {k: (v(values, errors) if isinstance(v, _Filler) else v) for k, v in self.parts.items()}


class _List(_Filler):
    __slots__ = ("items",)

    def __init__(self, items: list[Any]):
        self.items = items

    def __call__(self, values: dict[str, Any], errors: list[tuple[JsonPath, str]]) -> list[Any]:
        return [v(values, errors) if isinstance(v, _Filler) else v for v in self.items]


def _compile(value: Any, path: JsonPath, errors: list[tuple[JsonPath, str]], names: set[str]) -> Any:
    """``value`` with its placeholders ready to fill: a `_Filler`, or the value itself when it has none.

    A malformed placeholder is appended to ``errors`` and the text kept as written; the names of the
    placeholders met are added to ``names``. Untemplated parts are shared between jobs, so jobs are
    read-only by contract.
    """
    if isinstance(value, str):
        if "{" not in value and "}" not in value:
            return value
        try:
            template = parse(value)
        except TemplateError as exc:
            errors.append((path, str(exc)))
            return value
        if len(template.parts) == 1:
            return template.parts[0]
        names.update(template.names)
        return _Text(template, path, value)
    if isinstance(value, dict):
        parts = {k: _compile(v, (*path, k), errors, names) for k, v in value.items()}
        return _Map(parts) if any(isinstance(v, _Filler) for v in parts.values()) else value
    if isinstance(value, list):
        items = [_compile(v, (*path, i), errors, names) for i, v in enumerate(value)]
        return _List(items) if any(isinstance(v, _Filler) for v in items) else value
    return value


def _dotted(path: JsonPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "job"


def _locate_template(entry: YamlMap, defaults: YamlMap | None, path: JsonPath,
                     fallback: Pos | None) -> Pos | None:
    for node in (entry, defaults):
        pos = walk_position(node, path)
        if pos is not None:
            return pos
    return fallback


def walk_position(node: Any, path: JsonPath, at_key: bool = False) -> Pos | None:
    """The position of ``path`` inside a ruamel node: the value's (or, with ``at_key``, the last key's),
    or None when the path is not there. Keys are matched as written or as the text `to_plain` makes of them
    (``3``, ``null``)."""
    if node is None:
        return None
    pos = node_position(node)
    part: Any  # becomes the key as written when that is not text (3, null)
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, dict):
            if part not in node:
                part = next((k for k in node if type(k) is not str and _key_text(k) == part), _MISSING)
                if part is _MISSING:
                    return None
            pos = key_position(node, part) if (last and at_key) else value_position(node, part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            pos = value_position(node, part)
            node = node[part]
        else:
            return None
    return pos
