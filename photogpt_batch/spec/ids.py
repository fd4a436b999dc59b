"""The rules for job ids: as written in the spec, as expanded (placeholders filled), and unique among the
output folders they name (as macOS and Windows compare names: ignoring case and trailing dots)."""

from __future__ import annotations

import re
from typing import Any, Protocol

from ..layout import TOP_LEVEL_NAMES
from .document import Pos
from .reporter import Reporter
from .templates import Template, TemplateError

CAMPAIGN_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]*")
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: The longest final (expanded) job id. Each id names its output folder `<output>/<id>/`, and a name in a folder
#: may have at most 255 bytes on Linux, macOS and Windows: a longer id would validate, be submitted and paid for,
#: and then its video could never be saved. The tool's own files go inside that folder, so the id may use all of
#: it; a tighter limit would refuse campaigns that ran fine (and an id is a job's identity: renaming one orphans
#: its paid job). `JOB_ID` allows only ASCII, so characters are bytes.
MAX_ID_LENGTH = 255
#: What the tool itself writes at the top of the output folder, next to the job folders `<output>/<id>/`
#: (`layout.TOP_LEVEL_NAMES`: the manifest, the review page, their temporary files and the tool's own folder,
#: which `JOB_ID` refuses already by its leading '.'), by `output_name_key`: an id that names one of them would be
#: submitted and paid for, and its videos could never be saved (or would be overwritten by the tool's own file).
OUTPUT_NAMES = {name.casefold(): name for name in TOP_LEVEL_NAMES}


def output_name_key(name: str) -> str:
    """``name`` as a file system that ignores case (macOS, Windows) and trailing dots (Windows) sees it."""
    return name.rstrip(".").casefold()


def invalid_as_written(template: Template) -> bool:
    """Whether an id is invalid as written, each placeholder standing for a harmless letter: `a/../b` is
    refused here, whatever the placeholders later bring."""
    return not JOB_ID.fullmatch("x".join(template.parts[::2]))


class EntryIds:
    """The final ids of one job entry's jobs, checked as each is filled in.

    Each distinct problem is reported once per entry; a too-long id once at all, since the ids of a matrix
    are alike and thousands of them, each one different, can be too long.
    """

    def __init__(self, raw_id: str, template: Template, pos: Pos | None, rep: Reporter):
        self.raw_id, self.template, self.pos, self.rep = raw_id, template, pos, rep
        self._reported: set[str] = set()
        self._long_reported = False

    def fill(self, values: dict[str, Any]) -> tuple[str, bool]:
        """(the job's id, whether it is usable); an unusable id is reported and the id as written returned
        when it could not be filled."""
        try:
            job_id = self.template.fill(values, normalise=True)
        except TemplateError as exc:
            self._once(str(exc), f"id: {exc}")
            return self.raw_id, False
        if not JOB_ID.fullmatch(job_id):
            self._once(job_id, f"id: {self.raw_id!r} expands to {job_id!r}, which is not a valid id",
                       "ids must start with a letter or digit; placeholders fill in the rest")
        elif len(job_id) > MAX_ID_LENGTH:
            if not self._long_reported:
                self._long_reported = True
                self.rep.error(self.pos, *too_long_id(self.raw_id, job_id))
        elif (clash := output_name_clash(self.raw_id, job_id)) is not None:
            self._once(job_id, *clash)
        else:
            return job_id, True
        return job_id, False

    def _once(self, key: str, message: str, hint: str | None = None) -> None:
        if key not in self._reported:
            self._reported.add(key)
            self.rep.error(self.pos, message, hint)


class SeenIds:
    """The output folders the campaign's jobs have taken so far: a job whose folder was taken is reported at
    its own entry, once per folder and entry."""

    def __init__(self, rep: Reporter):
        self.rep = rep
        # `output_name_key` of an id -> (entry index, line, id, row place) of its first job: ids that differ only in
        # case or trailing dots name one output folder on macOS and Windows, so they are duplicates on every platform.
        self._first: dict[str, tuple[int, int, str, RowPlace | None]] = {}
        self._reported: set[tuple[str, int, RowPlace | None]] = set()  # (output_name_key, entry index, row)

    def add(self, job_id: str, index: int, id_pos: Pos | None, row: RowPlace | None = None) -> None:
        """Take ``job_id``'s folder for entry ``index`` (its id at ``id_pos``), or report that it is taken: at the
        job's ``row`` (its id's cell in the data file) when a row of ``rows:`` made it, at each such row."""
        key = output_name_key(job_id)
        first = self._first.get(key)
        if first is None:
            self._first[key] = (index, (id_pos or (1, 1))[0], job_id, row)
        elif (key, index, row) not in self._reported:
            self._reported.add((key, index, row))
            first_row = first[3]
            if row is None or first_row is None:
                self.rep.error(id_pos, *duplicate_id(job_id, first[2], first[0] == index and first_row is None,
                                                     first[1]))
                return
            message = duplicate_id(job_id, first[2], False, first[1])[0]
            first_file, (first_line, _) = first_row.id_cell()
            message = message.replace(f"first at line {first[1]}", f"first at {first_file} line {first_line}")
            file, pos = row.id_cell()
            self.rep.error(pos, message, "each row needs its own id: put a column that tells the rows apart in the id",
                           file=file)


class RowPlace(Protocol):
    """The row of a ``rows:`` file that made a job (`spec.rows.RowSource`): hashable, one per row."""

    def id_cell(self) -> tuple[str, Pos]:
        """(data file, position) of the cell that fills the job's id."""


def output_name_clash(raw_id: str, job_id: str) -> tuple[str, str] | None:
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


def too_long_id(raw_id: str, job_id: str) -> tuple[str, str]:
    """The message and hint for a final id longer than `MAX_ID_LENGTH`; both ids shortened in the message."""
    why = (f"{len(job_id)} characters, more than the {MAX_ID_LENGTH} an id may have: it names the job's output "
           "folder")
    if job_id == raw_id:
        return (f"id: {shorten(job_id)!r} is {why}",
                f"use a shorter id (at most {MAX_ID_LENGTH} characters) and keep the details in the prompt")
    return (f"id: {shorten(raw_id)!r} expands to {shorten(job_id)!r}, which is {why}",
            f"use a shorter id: shorten the text around the placeholders, or the values that fill them, so that "
            f"every id has at most {MAX_ID_LENGTH} characters")


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut in the middle to ``limit`` characters, so one message stays one line in a terminal. The start
    and the end are kept: a matrix id's start is usually the entry's own text, its end what told the jobs apart.
    '…' cannot be in an id (`JOB_ID`), so it cannot be mistaken for part of it."""
    if len(text) <= limit:
        return text
    tail = limit // 3
    return text[: limit - tail - 1] + "…" + text[-tail:]


def duplicate_id(job_id: str, first_id: str, same_entry: bool, first_line: int) -> tuple[str, str]:
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
