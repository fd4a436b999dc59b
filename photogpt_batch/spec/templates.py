"""``{name}`` placeholders: parsing once, filling many times.

A string that is exactly one placeholder takes the value with its type (``"{seed}"`` → ``7``); elsewhere
values are formatted into the text. ``{{`` and ``}}`` write literal braces.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..models import JsonPath
from .text import scalar_text

#: What a placeholder name (a var, a matrix key) may be.
VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Placeholder names the tool fills itself; a var or matrix key of that name would be silently ignored.
RESERVED_NAMES = ("model",)


class TemplateError(ValueError):
    """A malformed template or a placeholder with no value."""


class Cell:
    """A CSV or TSV cell that YAML would read as a number or a boolean (``8``, ``1.5``, ``true``).

    Where a placeholder is the whole value it takes that type (``duration: "{duration}"`` gives 8); everywhere
    else the text as written is used, so that ``0123`` stays ``0123`` in an id or a prompt.
    """

    __slots__ = ("text", "value")

    def __init__(self, text: str):
        self.text = text
        self.value = _cell_value(text)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Cell({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cell) and other.text == self.text

    def __hash__(self) -> int:
        return hash(("cell", self.text))


def _cell_value(text: str) -> Any:
    """The cell's value as YAML 1.2 reads a plain scalar (the caller has matched a number or a boolean)."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        return float(text)


@dataclass(frozen=True)
class Template:
    """A parsed string: literal text and placeholder names, alternating (literals at even indexes)."""

    parts: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The placeholder names, in order."""
        return self.parts[1::2]

    @functools.cached_property
    def is_whole(self) -> bool:
        """True when the string is exactly one placeholder, so the value keeps its type."""
        return len(self.parts) == 3 and self.parts[0] == "" and self.parts[2] == ""

    def fill(self, values: Mapping[str, Any], normalise: bool = False) -> Any:
        """The template with every placeholder replaced from ``values``.

        ``normalise`` applies the id rules to filled-in values (``16:9`` → ``16x9``).
        Raises `TemplateError` naming an unknown placeholder.
        """
        if len(self.parts) == 1:
            return self.parts[0]
        if self.is_whole and not normalise:
            value = _lookup(values, self.parts[1])
            return value.value if type(value) is Cell else value
        out = []
        for i, part in enumerate(self.parts):
            if i % 2 == 0:
                out.append(part)
            elif normalise:
                out.append(id_text(_lookup(values, part)))
            else:
                out.append(format_value(_lookup(values, part)))
        return "".join(out)


def _lookup(values: Mapping[str, Any], name: str) -> Any:
    try:
        return values[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(values), n=1)
        hint = f"; did you mean {{{close[0]}}}?" if close else ""
        known = ", ".join(sorted(values)) or "none"
        raise TemplateError(f"unknown placeholder {{{name}}} (known: {known}){hint}") from None


def format_value(value: Any) -> str:
    """A value as text inside a string: YAML spellings for booleans and null, a `Cell` as written."""
    if type(value) is Cell:
        return value.text
    text = scalar_text(value)
    if text is not None:
        return text
    raise TemplateError(f"a {type(value).__name__} cannot be formatted into text; use it as the whole value")


_ID_BAD = re.compile(r"[^A-Za-z0-9._-]")


def normalise_id_part(text: str) -> str:
    """Filled-in id text: ``:`` becomes ``x`` (``16:9`` → ``16x9``), anything else unsafe becomes ``-``."""
    return _ID_BAD.sub("-", text.replace(":", "x"))


def id_text(value: Any) -> str:
    """A value as filled into an id: formatted, then normalised (cached: matrix values recur in many ids)."""
    if type(value) is Cell:
        value = value.text
    try:
        return _id_text(value)
    except TypeError:  # unhashable: a list or mapping, which format_value refuses with a clear message
        return normalise_id_part(format_value(value))


@functools.lru_cache(maxsize=65536, typed=True)  # typed: True and 1 are different values here
def _id_text(value: Any) -> str:
    return normalise_id_part(format_value(value))


@functools.lru_cache(maxsize=65536)
def parse(text: str) -> Template:
    """Parse ``text`` into a `Template` (cached: a matrix job reuses the same strings many times)."""
    if "{" not in text and "}" not in text:
        return Template((text,))
    parts: list[str] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "{":
            if text.startswith("{{", i):
                literal.append("{")
                i += 2
                continue
            end = text.find("}", i + 1)
            name = text[i + 1 : end] if end != -1 else ""
            if end == -1 or not VAR_NAME.fullmatch(name):
                raise TemplateError(
                    f"malformed placeholder at character {i + 1}: write {{name}}, or {{{{ for a literal brace"
                )
            parts.append("".join(literal))
            parts.append(name)
            literal = []
            i = end + 1
        elif ch == "}":
            if text.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise TemplateError(f"unmatched '}}' at character {i + 1}: write }}}} for a literal brace")
        else:
            literal.append(ch)
            i += 1
    parts.append("".join(literal))
    return Template(tuple(parts))


class Filler:
    """A part of a job with placeholders: called with the values of one combination, it returns that part
    filled in. A placeholder that cannot be filled is appended to ``errors`` and its text kept."""

    __slots__ = ()

    def __call__(self, values: dict[str, Any], errors: list[tuple[JsonPath, str]]) -> Any:
        raise NotImplementedError


def fill_part(part: Any, values: dict[str, Any], errors: list[tuple[JsonPath, str]]) -> Any:
    """``part`` filled in when it is a `Filler`, else ``part`` itself (shared between jobs: read-only)."""
    return part(values, errors) if isinstance(part, Filler) else part


class _Text(Filler):
    __slots__ = ("path", "raw", "template")

    def __init__(self, template: Template, path: JsonPath, raw: str):
        self.template, self.path, self.raw = template, path, raw

    def __call__(self, values: dict[str, Any], errors: list[tuple[JsonPath, str]]) -> Any:
        try:
            return self.template.fill(values)
        except TemplateError as exc:
            errors.append((self.path, str(exc)))
            return self.raw


class _Map(Filler):
    __slots__ = ("parts",)

    def __init__(self, parts: dict[str, Any]):
        self.parts = parts

    def __call__(self, values: dict[str, Any], errors: list[tuple[JsonPath, str]]) -> dict[str, Any]:
        return {k: fill_part(v, values, errors) for k, v in self.parts.items()}


class _List(Filler):
    __slots__ = ("items",)

    def __init__(self, items: list[Any]):
        self.items = items

    def __call__(self, values: dict[str, Any], errors: list[tuple[JsonPath, str]]) -> list[Any]:
        return [fill_part(v, values, errors) for v in self.items]


def compile_value(value: Any, path: JsonPath, errors: list[tuple[JsonPath, str]], names: set[str]) -> Any:
    """``value`` with its placeholders ready to fill: a `Filler`, or the value itself when it has none.

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
        parts = {k: compile_value(v, (*path, k), errors, names) for k, v in value.items()}
        return _Map(parts) if any(isinstance(v, Filler) for v in parts.values()) else value
    if isinstance(value, list):
        items = [compile_value(v, (*path, i), errors, names) for i, v in enumerate(value)]
        return _List(items) if any(isinstance(v, Filler) for v in items) else value
    return value
