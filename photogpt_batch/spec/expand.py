"""Expand a loaded campaign into jobs: defaults merged under each job, ``vars`` and matrix placeholders
filled, matrix cross products (with ``exclude``), ids normalised and checked for duplicates.

Each `ExpandedJob` keeps a pointer to the YAML nodes it came from, so a problem found later (by the
schema or a plugin rule) can still be reported at the right line and column.

Jobs are produced lazily (`iter_expand`): a 100,000-job matrix is validated one job at a time, never held
as a list of expanded jobs.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..campaign import Need
from ..models import JsonPath
from .diagnostics import Diagnostic
from .document import Pos, YamlMap, YamlSeq, key_position, to_plain, value_position, walk_position
from .ids import CAMPAIGN_SLUG, EntryIds, SeenIds, invalid_as_written
from .matrix import Matrix, content_key, value_key
from .needs import NEEDS_KEY, EntryNeeds
from .reporter import Reporter
from .rows import ROWS_KEY, EntryRows, RowSource, read_entry_rows
from .templates import Cell, TemplateError, compile_value, fill_part, format_value, parse
from .text import dotted, show

FORMAT_VERSION = 1
TOP_KEYS = ("version", "campaign", "output", "budget", "defaults", "vars", "jobs", "sequences")
#: The keys of ``budget``.
BUDGET_KEYS = ("credits",)
JOB_FIELDS = ("model", "prompt", "numVideos", "options", "referenceImages", "referenceVideos", "elementIDs")
JOB_KEYS = ("id", *JOB_FIELDS, "matrix", ROWS_KEY, NEEDS_KEY)


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
    #: The row's columns and the matrix combination that made the job, as (axis, text) pairs (empty without).
    axes: tuple[tuple[str, str], ...] = ()
    #: The row of the entry's ``rows:`` file that made the job (None without ``rows:``).
    row: RowSource | None = None
    #: What the job's ``needs:`` names, filled in (empty without; None: it could not be filled, reported).
    needs: tuple[Need, ...] | None = ()
    #: Where the entry's ``needs:`` is written (where its graph errors are reported).
    needs_pos: Pos | None = None

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
    #: ``budget.credits``: the most the campaign may spend across all its runs (None: no budget).
    budget_credits: float | None = None


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged onto ``base``: mappings merge key by key, anything else (lists included) replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def expand(doc: YamlMap, file: str) -> Expansion:
    """Check the campaign's top level and expand all its jobs into a list. Never raises for bad input."""
    expansion = iter_expand(doc, file)
    expansion.jobs = list(expansion.jobs)
    return expansion


def iter_expand(doc: YamlMap, file: str) -> Expansion:
    """Check the campaign's top level now; expand its jobs lazily, reporting into ``diagnostics`` as they come."""
    rep = Reporter(file)
    rep.unknown_keys(doc, TOP_KEYS, "the campaign")

    version = doc.get("version")
    if "version" not in doc:
        rep.error((1, 1), "missing required key 'version'", "add `version: 1` at the top")
    elif isinstance(version, bool) or not isinstance(version, int) or version != FORMAT_VERSION:
        rep.error(value_position(doc, "version"),
                  f"version: {show(version, quote_text=True)} is not supported; only 1 exists", "write `version: 1`")

    campaign = doc.get("campaign")
    if "campaign" not in doc:
        rep.error((1, 1), "missing required key 'campaign'", "name it with a slug such as `campaign: spring-launch`")
        campaign = None
    elif not isinstance(campaign, str) or not CAMPAIGN_SLUG.fullmatch(campaign):
        rep.error(value_position(doc, "campaign"),
                  f"campaign: {show(campaign, quote_text=True)} is not a slug: lowercase letters, digits, '.', "
                  "'_' and '-', starting with a letter or digit")
        campaign = None
    else:
        campaign = str(campaign)

    output = doc.get("output")
    if "output" in doc and (not isinstance(output, str) or not output.strip()):
        rep.error(value_position(doc, "output"), "output: must be a folder path (text)")
        output = None
    elif output is not None:
        output = str(output)

    budget = _budget(doc, rep)

    defaults = doc.get("defaults")
    if "defaults" in doc and not isinstance(defaults, dict):
        rep.error(value_position(doc, "defaults"), "defaults: must be a mapping of job fields",
                  f"allowed keys: {', '.join(JOB_FIELDS)}")
        defaults = None
    if defaults is not None:
        if NEEDS_KEY in defaults:  # said plainly: the generic "unknown key" would not say why
            rep.error(key_position(defaults, NEEDS_KEY), "needs: is per job, not in defaults",
                      "write `needs:` in each job entry that waits for another job")
            rep.unknown_keys(defaults, (*JOB_FIELDS, NEEDS_KEY), "defaults")
        else:
            rep.unknown_keys(defaults, JOB_FIELDS, "defaults")
    defaults_plain = {k: to_plain(v) for k, v in (defaults or {}).items() if k in JOB_FIELDS}

    variables: dict[str, Any] = {}
    vars_node = doc.get("vars")
    if "vars" in doc and not isinstance(vars_node, dict):
        rep.error(value_position(doc, "vars"), "vars: must be a mapping of names to values")
    elif vars_node is not None:
        for key, value in vars_node.items():
            if rep.placeholder_name(key, key_position(vars_node, key), "vars"):
                variables[key] = to_plain(value)

    jobs_node = doc.get("jobs")
    jobs: Iterable[ExpandedJob] = ()
    if "jobs" not in doc:
        rep.error((1, 1), "missing required key 'jobs'", "list at least one job under `jobs:`")
    elif not isinstance(jobs_node, list) or not jobs_node:
        rep.error(value_position(doc, "jobs"), "jobs: must be a non-empty list of jobs")
    else:
        jobs = _jobs(jobs_node, defaults, defaults_plain, variables, rep, hasattr(doc, "lc"))
    return Expansion(campaign, output, jobs, rep.diagnostics, budget)


def _budget(doc: YamlMap, rep: Reporter) -> float | None:
    """``budget.credits`` (a number > 0), or None; a located error for anything else."""
    if "budget" not in doc:
        return None
    node = doc.get("budget")
    hint = "write `budget: {credits: 5000}`"
    if not isinstance(node, dict):
        rep.error(value_position(doc, "budget"), "budget: must be a mapping such as {credits: 5000}", hint)
        return None
    rep.unknown_keys(node, BUDGET_KEYS, "budget")
    if "credits" not in node:
        rep.error(key_position(doc, "budget"), "budget: missing required key 'credits'", hint)
        return None
    credits = node.get("credits")
    if isinstance(credits, bool) or not isinstance(credits, int | float) or not math.isfinite(credits) or credits <= 0:
        rep.error(value_position(node, "credits"), f"budget.credits: {show(credits, quote_text=True)} is not a "
                  "number of credits greater than 0", hint)
        return None
    return float(credits)


def _jobs(jobs_node: YamlSeq, defaults: YamlMap | None, defaults_plain: dict[str, Any],
          variables: dict[str, Any], rep: Reporter, positioned: bool) -> Iterator[ExpandedJob]:
    """Every entry's jobs in order; a job whose id was already taken is reported at its own entry (at its row,
    for a row's job), and still yielded so that its other problems are reported too (it is never planned: the
    duplicate is an error). ``positioned``: the document has positions, so rows files are read with them too."""
    seen = SeenIds(rep)
    for index, entry in enumerate(jobs_node):
        pos = value_position(jobs_node, index)
        if not isinstance(entry, dict):
            rep.error(pos, f"jobs[{index}]: a job is a mapping with id, prompt, options, ...")
            continue
        id_pos = value_position(entry, "id") or pos
        for job in _Entry(index, entry, pos, defaults, rep, positioned).expand(defaults_plain, variables):
            if ("id",) not in job.broken:
                seen.add(job.id, index, id_pos, job.row)
            yield job


_MISSING = object()


class _Entry:
    """One job entry of the spec (``jobs[index]``), expanded into its jobs in steps: its id as written, its
    matrix, its fields compiled once, then per combination the fields filled, the id filled and checked, and
    the job's shape key; last, the exclude rules that matched nothing."""

    def __init__(self, index: int, entry: YamlMap, pos: Pos | None, defaults: YamlMap | None, rep: Reporter,
                 positioned: bool = True):
        self.index, self.node, self.pos, self.defaults, self.rep = index, entry, pos, defaults, rep
        self.positioned = positioned
        self.needs: EntryNeeds | None = None
        self._reported: set[tuple[JsonPath, str]] = set()  # placeholder errors: one per path and text
        #: Each axis pair, and each job's tuple of them, made once and shared by the entry's jobs that have it: at
        #: 20,000 jobs, a tuple and its pairs per job were a third of a planned job's memory.
        self._axes: dict[Any, Any] = {}

    def expand(self, defaults_plain: dict[str, Any], variables: dict[str, Any]) -> Iterator[ExpandedJob]:
        """The entry's jobs, one per row and matrix combination (one without either); nothing after an error in
        the id, the matrix or the rows file, which are reported."""
        self.rep.unknown_keys(self.node, JOB_KEYS, "a job")
        ids = self._written_id()
        if ids is None:
            return
        matrix = Matrix.read(self.node, self.rep)
        if matrix is None:
            return
        merged = deep_merge(defaults_plain, {k: to_plain(v) for k, v in self.node.items() if k in JOB_FIELDS})
        rows = None
        if ROWS_KEY in self.node:
            table = read_entry_rows(self.node, self.rep.file, self.rep, self.positioned)
            if table is None:
                return
            rows = EntryRows.check(table, merged, ids.template, ids.pos, [a[0] for a in matrix.axes], self.node,
                                   self.rep)
            if rows is None:
                return
        fields, broken, shape_names = self._compile(merged)
        self.needs = EntryNeeds(self.node, self.rep) if NEEDS_KEY in self.node else None
        if self.needs is not None and not self.needs.ok:
            return
        count = 0
        for row in rows.table.rows if rows is not None else (None,):
            source = None
            if rows is not None and row is not None:
                if not rows.usable(row, self.rep):
                    continue
                source = RowSource(rows.table, row, rows.paths)
            for job in self._combos(matrix, fields, broken, shape_names, ids, variables, source):
                count += 1
                yield job
        if rows is None or count:  # with rows that all had problems (reported), exclude rules were never tried
            self._report_excludes(matrix, count)

    def _combos(self, matrix: Matrix, fields: dict[str, Any], broken: tuple[JsonPath, ...],
                shape_names: tuple[str, ...], ids: EntryIds, variables: dict[str, Any],
                source: RowSource | None) -> Iterator[ExpandedJob]:
        """The jobs of one row (or of the entry, without rows): one per matrix combination."""
        row = _row_values(source.row.values) if source is not None else None
        for matrix_combo in matrix.combos():
            combo = {**row, **matrix_combo} if row is not None else matrix_combo
            values, data, errors = self._fill(fields, combo, variables)
            job_broken = (*broken, *self._report_placeholders(errors))
            job_id, usable = ids.fill(values)
            if not usable:
                job_broken = (*job_broken, ("id",))
            shape_key = self._shape_key(matrix, data, values, shape_names, source)
            data["id"] = job_id
            shared = self._axes
            axes = tuple(shared.setdefault(pair, pair) for pair in ((k, _axis_text(v)) for k, v in combo.items()
                                                                     if k != "model"))
            axes = shared.setdefault(axes, axes)
            needs = self.needs.fill(values) if self.needs is not None else ()
            yield ExpandedJob(data, self.node, self.defaults, matrix.positions(data.get("model")), job_broken,
                              shape_key, axes, source, needs, self.needs.pos if self.needs is not None else None)

    def _written_id(self) -> EntryIds | None:
        """The checker of the entry's final ids, or None after reporting an id that is missing or invalid as
        written."""
        entry, rep = self.node, self.rep
        raw_id = entry.get("id")
        id_pos = value_position(entry, "id") or self.pos
        if "id" not in entry:
            rep.error(self.pos, "job has no 'id'", "give every job a unique id, e.g. `id: hero`")
            return None
        if not isinstance(raw_id, str) or not raw_id:
            hint = f'quote it: id: "{show(raw_id)}"' if isinstance(raw_id, int | float) else None
            rep.error(id_pos, f"id: {show(raw_id, quote_text=True)} must be text such as `hero` or "
                      "`social-{model}`", hint)
            return None
        raw_id = str(raw_id)
        try:
            template = parse(raw_id)
        except TemplateError as exc:
            rep.error(id_pos, f"id: {exc}")
            return None
        if invalid_as_written(template):
            rep.error(id_pos, f"id: {raw_id!r} is not a valid id",
                      "use letters, digits, '.', '_' and '-' (no '/', not starting with '.')")
            return None
        return EntryIds(raw_id, template, id_pos, rep)

    def _compile(self, merged: dict[str, Any]) -> tuple[dict[str, Any], tuple[JsonPath, ...], tuple[str, ...]]:
        """(the job's fields ready to fill, the paths whose placeholders are malformed (reported), the names
        whose values can change the job's shape: every one used outside the prompt)."""
        errors: list[tuple[JsonPath, str]] = []
        names: dict[str, set[str]] = {}
        fields = {k: compile_value(v, (k,), errors, names.setdefault(k, set())) for k, v in merged.items()}
        for path, message in errors:
            self.rep.error(self._locate(path), f"{dotted(path)}: {message}")
        shape_names = tuple(sorted(set().union(*(n for k, n in names.items() if k != "prompt"))))
        return fields, tuple(path for path, _ in errors), shape_names

    def _fill(self, fields: dict[str, Any], combo: dict[str, Any], variables: dict[str, Any]
              ) -> tuple[dict[str, Any], dict[str, Any], list[tuple[JsonPath, str]]]:
        """(the placeholder values of one combination, the job filled in with its id as written, the
        placeholders that could not be filled). The model comes first: ``{model}`` may be used anywhere."""
        values = {**variables, **combo}
        errors: list[tuple[JsonPath, str]] = []
        model = combo["model"] if "model" in combo else fill_part(fields.get("model"), values, errors)
        values["model"] = model if model is not None else ""
        data: dict[str, Any] = {"id": self.node["id"]}
        if "model" in combo or "model" in fields:
            data["model"] = model
        for k, v in fields.items():
            if k != "model":
                data[k] = fill_part(v, values, errors)
        return values, data, errors

    def _report_placeholders(self, errors: list[tuple[JsonPath, str]]) -> tuple[JsonPath, ...]:
        """Report each placeholder that could not be filled (once per path and text); their paths."""
        for path, message in errors:
            if (path, message) not in self._reported:
                self._reported.add((path, message))
                self.rep.error(self._locate(path), f"{dotted(path)}: {message}")
        return tuple(path for path, _ in errors)

    def _shape_key(self, matrix: Matrix, data: dict[str, Any], values: dict[str, Any],
                   shape_names: tuple[str, ...], source: RowSource | None) -> Hashable:
        """What identifies the job's shape (`ExpandedJob.shape_key`): jobs with equal keys validate alike. A
        row's job is keyed as a matrix job is, by the values of the placeholders used outside the prompt."""
        prompt = data.get("prompt", _MISSING)
        prompt_kind = True if type(prompt) is str and prompt else value_key(prompt)
        if matrix.node is None and source is None:
            # One job from this entry: key its shape by content, so that the entries of a long explicit list
            # that differ only in id and prompt are validated (and turned into a request) once, not each.
            return ("content", prompt_kind, content_key({k: v for k, v in data.items() if k not in ("id", "prompt")}))
        model = data.get("model")
        return (self.index, value_key(model), prompt_kind, *(value_key(values.get(n, _MISSING))
                                                              for n in shape_names))

    def _report_excludes(self, matrix: Matrix, count: int) -> None:
        """Warn of exclude rules that matched nothing; an error when they left no combination."""
        if matrix.excludes is None or matrix.node is None:
            return
        exclude_node = matrix.node.get("exclude")
        for i in matrix.unused_excludes():
            self.rep.warning(value_position(exclude_node, i), f"matrix.exclude[{i}] matches no combination",
                             "check its values against the matrix lists")
        if count == 0:
            self.rep.error(value_position(matrix.node, "exclude"), "matrix.exclude leaves no combination: this "
                           "entry makes no jobs", "remove the exclude rules that cover every combination")

    def _locate(self, path: JsonPath) -> Pos | None:
        """Where a path of the job is written: in the entry, else in ``defaults``, else the entry itself."""
        for node in (self.node, self.defaults):
            pos = walk_position(node, path)
            if pos is not None:
                return pos
        return self.pos


def _row_values(values: dict[str, Any]) -> dict[str, Any]:
    """A row's values as placeholder values: a ``model`` column is the model's id, as text."""
    model = values.get("model")
    return {**values, "model": str(model)} if model is not None and type(model) is not str else values


def _axis_text(value: Any) -> str:
    """A matrix value or a row's cell as ``--only axis=value`` spells it."""
    if type(value) is str:
        return value
    if type(value) is Cell:
        return value.text
    try:
        return format_value(to_plain(value))
    except TemplateError:
        return str(to_plain(value))
