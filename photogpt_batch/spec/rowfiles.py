"""Read the data file of a job entry's ``rows:``: CSV or TSV with a header, JSON Lines, or a YAML or JSON list of
mappings. Each row keeps where it is written, so that a problem with it is reported at the data file's own
line and column.

Every problem with the file itself (unreadable, not UTF-8, a bad or duplicate header, a ragged row, a row that
is not a mapping) is a `Diagnostic` in the data file's name, all of them in one pass.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ..io.reads import note
from .diagnostics import Diagnostic
from .document import Pos, check_values, to_plain, value_position
from .source import MAX_SPEC_BYTES
from .templates import VAR_NAME, Cell

#: The formats, by the file's extension: the CSV delimiter, or "jsonl" or "yaml" (a JSON file is YAML too).
FORMATS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".yaml": "yaml", ".yml": "yaml", ".json": "yaml"}
#: A data file is read whole, as a spec is: the same bound (a 100,000-row catalog takes a few MB).
MAX_ROWS_BYTES = MAX_SPEC_BYTES
#: A cell that YAML 1.2 reads as a number or a boolean: where a placeholder is a whole value, it takes that type
#: (``duration: "{duration}"`` with a cell ``8`` is the number 8). Everywhere else the cell's text is used.
_TYPED = re.compile(r"[-+]?[0-9]+|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|true|True|TRUE|false|False|FALSE")


@dataclass(slots=True)
class Row:
    """One row: its values by column, the line it starts on, and what is needed to find a cell in it."""

    values: dict[str, Any]
    line: int
    #: The line after the row's last (CSV, TSV), the row's text (JSON Lines) or its YAML mapping: what finds a
    #: cell's column when one is reported.
    source: Any = None

    def position(self, table: RowTable, column: str) -> Pos:
        """Where ``column``'s cell of this row is written (its key in JSON Lines and YAML)."""
        if isinstance(self.source, CommentedMap):
            return value_position(self.source, column) or (self.line, 1)
        if isinstance(self.source, str):  # JSON Lines: the key's place in the line
            at = self.source.find(json.dumps(column, ensure_ascii=False))
            return (self.line, at + 1) if at >= 0 else (self.line, 1)
        if isinstance(self.source, int) and table.delimiter is not None and column in table.columns:
            text = "".join(table.lines[self.line - 1:self.source - 1])
            return cell_position(text, table.columns.index(column), table.delimiter, self.line)
        return self.line, 1


@dataclass
class RowTable:
    """A data file's rows: ``file`` is its name as messages write it; ``columns`` every column, in file order."""

    file: str
    columns: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    #: The CSV/TSV delimiter; None for JSON Lines and YAML.
    delimiter: str | None = None
    #: A CSV or TSV file's lines, as written, to find a cell of a row that is reported.
    lines: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, pos: Pos, message: str, hint: str | None = None) -> None:
        """Report an error at ``pos`` in this data file."""
        self.diagnostics.append(Diagnostic(self.file, pos[0], pos[1], message, "error", hint))


def cell_position(text: str, index: int, delimiter: str, line: int) -> Pos:
    """(line, column) where cell ``index`` of a CSV record starts; ``text`` is the record as written, from
    ``line`` on. Quoted cells may hold delimiters and newlines."""
    if index == 0:
        return line, 1
    cell, column, quoted = 0, 1, False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "\n":
            line, column = line + 1, 0
        elif ch == delimiter and not quoted:
            cell += 1
            if cell == index:
                return line, column + 1
        column += 1
    return line, column


def read_rows(path: Path, file: str, positioned: bool) -> RowTable:
    """The rows of the data file at ``path`` (named ``file`` in messages). ``positioned`` reads a YAML or JSON
    file with positions (slower); without, its rows have none, and the caller reads it again to report."""
    table = RowTable(file)
    kind = FORMATS.get(path.suffix.lower())
    text = _read_text(path, table)
    if text is None or kind is None:
        return table
    if kind == "jsonl":
        _read_jsonl(text, table)
    elif kind == "yaml":
        _read_yaml(text, table, positioned)
    else:
        table.delimiter = kind
        _read_csv(text, table)
    if not table.diagnostics and not table.rows:
        table.error((1, 1), "the file has no rows", "a rows file has a header and one row per job" if
                    table.delimiter else "a rows file holds one mapping per job")
    return table


def _read_text(path: Path, table: RowTable) -> str | None:
    """The file's text (UTF-8, with or without a byte order mark), or None after reporting why not."""
    note(path)  # before reading: a change while it is read shows in the next look at it
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_ROWS_BYTES + 1)
    except IsADirectoryError:
        table.error((1, 1), "is a directory, not a rows file")
        return None
    except OSError as exc:
        table.error((1, 1), f"cannot read the file: {exc.strerror or exc}")
        return None
    if len(data) > MAX_ROWS_BYTES:
        table.error((1, 1), f"is larger than {MAX_ROWS_BYTES >> 20} MiB; split the rows into several files")
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        table.error((1, 1), "is UTF-16 text; rows files are read as UTF-8",
                    "save it as UTF-8 (in Excel: Save As, CSV UTF-8)")
        return None
    if b"\x00" in data[:8192]:
        table.error((1, 1), "is a binary file, not a rows file (CSV, TSV, JSON Lines, YAML or JSON)")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        table.error((line, column), f"is not UTF-8 text: byte 0x{data[exc.start]:02x} here is not UTF-8",
                    "save the file as UTF-8 (in Excel: Save As, CSV UTF-8)")
        return None


def _column_name(table: RowTable, name: Any, pos: Pos, seen: dict[str, Pos]) -> bool:
    """Whether ``name`` is a usable column name, new in this header; reports why not."""
    if not isinstance(name, str) or not VAR_NAME.fullmatch(name):
        shown = json.dumps(name, ensure_ascii=False) if isinstance(name, str) else repr(name)
        hint = "column names are placeholder names: letters, digits and _, not starting with a digit"
        if isinstance(name, str) and not name.strip():
            message = "the header has an empty column name"
        else:
            message = f"column {shown} is not a placeholder name"
            if isinstance(name, str) and table.delimiter and ";" in name:
                hint = f"is the file separated by ';'? {table.file} is read with {table.delimiter!r} between cells"
        table.error(pos, message, hint)
        return False
    if name in seen:
        table.error(pos, f"column {name!r} appears twice in the header (first at column {seen[name][1]})",
                    "each column name may appear once")
        return False
    seen[name] = pos
    return True


def _read_csv(text: str, table: RowTable) -> None:
    assert table.delimiter is not None
    delimiter = table.delimiter
    lines = table.lines = list(io.StringIO(text, newline=""))
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    start = 1
    try:
        for record in reader:
            end = reader.line_num
            if not record or record == [""]:  # a blank line
                start = end + 1
                continue
            if header is None:
                header = record
                raw = "".join(lines[start - 1:end])
                seen: dict[str, Pos] = {}
                ok = [_column_name(table, name, cell_position(raw, i, delimiter, start), seen)
                      for i, name in enumerate(record)]
                table.columns = list(record) if all(ok) else []
            elif len(record) != len(header):
                table.error((start, 1), f"this row has {len(record)} cells and the header {len(header)}",
                            "every row needs one cell per column; quote a cell that holds "
                            f"{'a comma' if delimiter == ',' else 'a tab'}")
            elif table.columns:
                values = {name: (Cell(cell) if _TYPED.fullmatch(cell) else cell)
                          for name, cell in zip(header, record, strict=True)}
                table.rows.append(Row(values, start, end + 1))
            start = end + 1
    except csv.Error as exc:
        table.error((start, 1), f"cannot read this row: {exc}", 'a quote inside a quoted cell is written ""')
    if header is None:
        table.error((1, 1), "the file is empty; a rows file starts with a header line naming its columns")


def _mapping_row(table: RowTable, value: Any, line: int, source: Any, seen: dict[str, Pos]) -> None:
    """Add one JSON Lines or YAML row; a row that is not a mapping, or whose keys are not names, is reported."""
    if not isinstance(value, dict):
        table.error((line, 1), "this row is not a mapping of column names to values",
                    'write one mapping per row, e.g. {"sku": "A17", "name": "amber bottle"}')
        return
    ok = True
    for key in value:
        pos = (value_position(source, key) if isinstance(source, CommentedMap) else None) or (line, 1)
        if key not in seen and not _column_name(table, key, pos, seen):
            ok = False
    if ok:
        table.rows.append(Row({k: to_plain(v) for k, v in value.items()}, line, source))


def _read_jsonl(text: str, table: RowTable) -> None:
    seen: dict[str, Pos] = {}
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            table.error((number, exc.colno), f"invalid JSON: {exc.msg}", "JSON Lines holds one JSON object per line")
            continue
        _mapping_row(table, value, number, line, seen)
    table.columns = list(seen)


def _read_yaml(text: str, table: RowTable, positioned: bool) -> None:
    yaml = YAML(typ="rt") if positioned else YAML(typ="safe", pure=False)
    yaml.version = (1, 2)  # as the spec: `16:9` stays text
    yaml.allow_duplicate_keys = False
    try:
        doc: Any = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        table.error(pos, f"invalid YAML: {str(exc.problem or exc).splitlines()[0]}")
        return
    except (YAMLError, RecursionError, ValueError, TypeError) as exc:
        table.error((1, 1), f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        return
    if not isinstance(doc, list):
        table.error((1, 1), "a YAML or JSON rows file holds a list of mappings, one per row",
                    "e.g. - {sku: A17, name: amber bottle}")
        return
    table.diagnostics.extend(check_values({"rows": doc}, table.file))  # tags, sets, binary: as in a spec
    seen: dict[str, Pos] = {}
    for index, item in enumerate(doc):
        line = (value_position(doc, index) or (1, 1))[0] if isinstance(doc, CommentedSeq) else 1
        _mapping_row(table, item, line, item if isinstance(item, CommentedMap) else None, seen)
    table.columns = list(seen)
