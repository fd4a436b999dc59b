"""A job entry's ``rows:``: its data file, found next to the spec, checked against the entry, and where in that
file each job's values come from.

Each row makes one job (times the entry's matrix, if it has one); its columns are placeholders. A problem with a
value that a row filled in is reported at that row's cell, in the data file: `RowSource.place`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models import JsonPath
from .document import Pos, YamlMap, value_position
from .reporter import Reporter
from .rowfiles import FORMATS, Row, RowTable, read_rows
from .templates import Template, TemplateError, parse

ROWS_KEY = "rows"


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: one per row, shared by the row's jobs
class RowSource:
    """The row a job came from, and which column fills each path of the entry (shared by the entry's jobs)."""

    table: RowTable
    row: Row
    paths: dict[JsonPath, str]

    def place(self, path: JsonPath) -> tuple[str, Pos, str] | None:
        """(data file, position, column) of the cell that filled ``path``, or None when no column did."""
        column = self.paths.get(path)
        if column is None:
            return None
        return self.table.file, self.row.position(self.table, column), column

    def id_cell(self) -> tuple[str, Pos]:
        """(data file, position) of the cell that fills the job's id: where a duplicate id is reported."""
        place = self.place(("id",))
        return (place[0], place[1]) if place is not None else (self.table.file, (self.row.line, 1))


def rows_path(spec_file: str, written: str) -> tuple[Path, str] | tuple[None, str]:
    """(the data file's absolute path, its name for messages), or (None, why it is refused).

    A rows file lives in the spec's folder or below it: an absolute path, ``~`` or a ``..`` that climbs out is
    refused, since a spec from a pull request could otherwise make ``validate`` read, and quote in its messages,
    any file the user can read. A symbolic link that leads out is refused for the same reason.
    """
    if os.path.isabs(written) or written.startswith("~") or "\\" in written or ":" in written:
        return None, "is absolute; a rows file is named relative to the spec's folder"
    relative = os.path.normpath(written)
    if relative == ".." or relative.startswith(".." + os.sep):
        return None, "climbs out of the spec's folder; keep the rows file in the spec's folder or below it"
    folder = Path(spec_file).absolute().parent
    path = folder / relative
    real_folder = os.path.realpath(folder)
    if os.path.commonpath([real_folder, os.path.realpath(path)]) != real_folder:
        return None, "leads out of the spec's folder through a symbolic link"
    return path, os.path.normpath(os.path.join(os.path.dirname(spec_file), relative))


def read_entry_rows(entry: YamlMap, spec_file: str, rep: Reporter, positioned: bool) -> RowTable | None:
    """The rows of ``entry``'s data file, or None after reporting why there are none (in the spec when the
    ``rows:`` value is wrong, in the data file when its content is)."""
    written = entry.get(ROWS_KEY)
    pos = value_position(entry, ROWS_KEY)
    hint = f"name a file beside the spec: {', '.join(sorted(set(FORMATS)))}"
    if not isinstance(written, str) or not written.strip():
        rep.error(pos, "rows: must be the path of a data file (text), e.g. `rows: products.csv`", hint)
        return None
    if Path(written).suffix.lower() not in FORMATS:
        rep.error(pos, f"rows: {written!r} is not a rows file: CSV, TSV, JSON Lines, YAML or JSON", hint)
        return None
    path, name = rows_path(spec_file, written)
    if path is None:
        rep.error(pos, f"rows: {written!r} {name}")
        return None
    if not path.exists():
        rep.error(pos, f"rows: {name}: no such file", "paths are relative to the spec's folder")
        return None
    table = read_rows(path, name, positioned)
    rep.diagnostics.extend(table.diagnostics)
    # The rows that could be read are still checked, so that every problem is reported in one pass.
    return table if table.rows else None


class EntryRows:
    """A rows file checked against its entry: which columns the entry uses, and where each fills a value."""

    def __init__(self, table: RowTable, used: tuple[str, ...], paths: dict[JsonPath, str]):
        self.table, self.used, self.paths = table, used, paths

    @classmethod
    def check(cls, table: RowTable, fields: dict[str, Any], id_template: Template, id_pos: Pos | None,
              matrix_names: list[str], entry: YamlMap, rep: Reporter) -> EntryRows | None:
        """The entry's use of ``table``, or None after reporting a problem that concerns every row: a column
        that is also a matrix key, or an id that no column fills (every row would give the same id)."""
        columns = set(table.columns)
        ok = True
        for name in matrix_names:
            if name in columns:
                rep.error(value_position(entry, ROWS_KEY), f"rows: {table.file} has a column {name!r}, and the "
                          f"matrix has a key {name!r}: a placeholder takes one value", "rename one of them")
                ok = False
        if not columns.intersection(id_template.names):
            rep.error(id_pos, f"id: {id_template_text(id_template)!r} uses no column of {table.file}, so every "
                      "row would make a job with the same id",
                      f"put a column that tells the rows apart in the id, e.g. `id: \"{{{table.columns[0]}}}\"`")
            ok = False
        if not ok:
            return None
        paths: dict[JsonPath, str] = {}
        _paths(fields, (), columns, paths)
        if "model" in columns:
            paths[("model",)] = "model"
        paths[("id",)] = next(n for n in id_template.names if n in columns)  # where a duplicate id is reported
        used = {n for n in id_template.names if n in columns} | set(paths.values())
        for path_names in _names(fields):
            used.update(n for n in path_names if n in columns)
        return cls(table, tuple(sorted(used)), paths)

    def usable(self, row: Row, rep: Reporter) -> bool:
        """Whether every column the entry uses has a value in ``row``; an empty or missing one is reported."""
        ok = True
        for column in self.used:
            value = row.values.get(column, _MISSING)
            if value is _MISSING:
                rep.error((row.line, 1), f"this row has no {column!r}, which the job uses as {{{column}}}",
                          "give every row a value for each column the job uses", file=self.table.file)
                ok = False
            elif value == "" or value is None:
                rep.error(row.position(self.table, column), f"column {column}: the cell is empty, and the job "
                          f"uses it as {{{column}}}", "fill the cell, or remove the row", file=self.table.file)
                ok = False
        return ok


_MISSING = object()


def id_template_text(template: Template) -> str:
    """The id as written, from its parsed template."""
    return "".join(part if i % 2 == 0 else f"{{{part}}}" for i, part in enumerate(template.parts))


def _texts(value: Any, path: JsonPath) -> list[tuple[JsonPath, str]]:
    """Every text in a job's fields with a placeholder, with its path."""
    if isinstance(value, str):
        return [(path, value)] if "{" in value else []
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _texts(v, (*path, k))]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in _texts(v, (*path, i))]
    return []


def _template(text: str) -> Template | None:
    try:
        return parse(text)
    except TemplateError:  # reported where the entry's fields are compiled
        return None


def _paths(fields: dict[str, Any], path: JsonPath, columns: set[str], out: dict[JsonPath, str]) -> None:
    """``out``: each path of the fields whose text uses a column, to the first column it uses."""
    for where, text in _texts(fields, path):
        template = _template(text)
        column = next((n for n in template.names if n in columns), None) if template else None
        if column is not None:
            out[where] = column


def _names(fields: dict[str, Any]) -> list[tuple[str, ...]]:
    """The placeholder names of each text of the fields."""
    return [t.names for _, text in _texts(fields, ()) if (t := _template(text)) is not None]
