"""Load a campaign YAML file into a positioned tree (ruamel.yaml, YAML 1.2), with located errors.

Everything that can go wrong before the document is a mapping (unreadable, binary, empty, a syntax error,
a duplicate key, a ``%YAML 1.1`` directive, a list at the top) becomes a `Diagnostic`, never a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .diagnostics import Diagnostic, SpecError

_DIRECTIVE = re.compile(r"^%YAML\s+(\S+)", re.MULTILINE)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)  # `16:9` stays a string; 1.1 would read it as the sexagesimal integer 969
    yaml.allow_duplicate_keys = False
    return yaml


def read_text(path: Path) -> str:
    """The file's text, or a `SpecError` saying why it is not a readable UTF-8 text file."""
    name = str(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise SpecError([Diagnostic(name, 1, 1, "is a directory, not a campaign file")]) from None
    except OSError as exc:
        raise SpecError([Diagnostic(name, 1, 1, f"cannot read the file: {exc.strerror or exc}")]) from None
    if b"\x00" in data[:8192]:
        raise SpecError([Diagnostic(name, 1, 1, "is a binary file, not a YAML campaign")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpecError([Diagnostic(name, line, 1, "is not UTF-8 text; save the campaign as UTF-8")]) from None
    return text


def load_document(path: Path, text: str | None = None) -> CommentedMap:
    """Parse a campaign file into a ruamel.yaml mapping that remembers every key's and value's position."""
    name = str(path)
    if text is None:
        text = read_text(path)
    for match in _DIRECTIVE.finditer(text):
        if match.group(1) != "1.2":
            line = text.count("\n", 0, match.start()) + 1
            raise SpecError([Diagnostic(
                name, line, 1,
                f"the file declares %YAML {match.group(1)}; campaigns are read as YAML 1.2",
                hint='remove the directive and quote ratios ("16:9"): YAML 1.1 reads 16:9 as the number 969',
            )])
    try:
        doc: Any = _yaml().load(text)
    except DuplicateKeyError as exc:
        raise SpecError([_marked(name, exc, "duplicate key", "each key may appear once in a mapping")]) from None
    except MarkedYAMLError as exc:
        raise SpecError([_marked(name, exc, "invalid YAML")]) from None
    except YAMLError as exc:
        raise SpecError([Diagnostic(name, 1, 1, f"invalid YAML: {exc}")]) from None
    except RecursionError:
        raise SpecError([Diagnostic(name, 1, 1, "invalid YAML: nested too deeply")]) from None
    if doc is None:
        raise SpecError([Diagnostic(name, 1, 1, "the file is empty; a campaign needs version, campaign and jobs")])
    if not isinstance(doc, CommentedMap):
        kind = "a list" if isinstance(doc, CommentedSeq) else f"a {type(doc).__name__}"
        raise SpecError([Diagnostic(
            name, 1, 1, f"a campaign is a mapping (version:, campaign:, jobs:), but this file holds {kind}"
        )])
    return doc


def _marked(name: str, exc: MarkedYAMLError, what: str, hint: str | None = None) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    detail = " ".join(str(part) for part in (exc.context, exc.problem) if part)
    detail = detail.replace("\n", " ")
    if what == "duplicate key":
        key = re.search(r'found duplicate key "([^"]*)"', str(exc))
        detail = f"{key.group(1)!r} appears twice" if key else detail
    return Diagnostic(name, line, column, f"{what}: {detail}" if detail else what, hint=hint)


def key_position(node: Any, key: Any) -> tuple[int, int] | None:
    """1-based (line, column) of ``key`` in a ruamel mapping, or None."""
    try:
        line, col = node.lc.key(key)
    except (AttributeError, KeyError, TypeError):
        return None
    return line + 1, col + 1


def value_position(node: Any, key: Any) -> tuple[int, int] | None:
    """1-based (line, column) of the value of ``key`` (mapping) or item ``key`` (sequence), or None."""
    try:
        if isinstance(node, CommentedSeq):
            line, col = node.lc.item(key)
        else:
            line, col = node.lc.value(key)
    except (AttributeError, KeyError, TypeError, IndexError):
        return None
    return line + 1, col + 1


def node_position(node: Any) -> tuple[int, int] | None:
    """1-based (line, column) where a mapping or sequence starts, or None."""
    try:
        return node.lc.line + 1, node.lc.col + 1
    except AttributeError:
        return None
