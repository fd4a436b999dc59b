"""Load a campaign YAML file into a positioned tree (ruamel.yaml, YAML 1.2), with located errors.

Everything that can go wrong before the document is a mapping (unreadable, binary, empty, a syntax error,
a duplicate key, a ``%YAML 1.1`` directive, a list at the top, a value no campaign can hold such as a custom
tag, and aliases that expand into a huge document) becomes a `Diagnostic`, never a traceback.

`load_plain` is the quick way in: ruamel's C parser, plain Python values and no positions. It gives up
(returns None) on anything unusual, so that `load_document` can report it at its place.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent, ScalarEvent, StreamEndEvent

from ..models import JsonPath
from .diagnostics import Diagnostic, SpecError
from .source import read_text
from .text import key_text

Pos = tuple[int, int]
#: A YAML mapping and sequence as loaded: ruamel's CommentedMap and CommentedSeq, which know their positions,
#: from `load_document`, or a plain dict and list from `load_plain`. Checks ask for ``dict`` and ``list``,
#: which both kinds are; the position helpers give None for the plain kind.
YamlMap = dict[Any, Any]
YamlSeq = list[Any]

try:
    from _ruamel_yaml import CParser  # ruamel.yaml.clib: libyaml, the parser that `YAML(pure=False)` uses
except ImportError:  # not installed (PyPy, or a platform without a wheel): every file takes the round-trip path
    CParser = None

_DIRECTIVE = re.compile(r"^%YAML\s+(\S+)", re.MULTILINE)
#: The one explicit tag a campaign may use on a scalar (``!!str 5``); ruamel keeps it as a `TaggedScalar`.
STR_TAG = "tag:yaml.org,2002:str"
#: Aliases let a small file stand for a huge tree ("billion laughs"): refuse a document whose values, with
#: aliases expanded, outnumber both this and ten times the values actually written.
MAX_EXPANDED_VALUES = 1_000_000
#: A "\ud800" escape in a double-quoted YAML string makes a lone surrogate: not Unicode, not encodable.
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_MESSAGE = "the text holds an unpaired surrogate escape (\\ud800-\\udfff), which is not valid Unicode"
#: The C parser builds its tree recursively in C, so a deep enough document overflows the C stack and kills the
#: process (near 30,000 levels with an 8 MiB stack, far fewer on a small thread stack). A campaign is a handful
#: of levels deep; a deeper file takes the round-trip path, which refuses it cleanly if it is too deep.
MAX_PLAIN_DEPTH = 100
#: Characters the two parsers read differently, rare in campaigns: a tab (libyaml reads `prompt: a<TAB>`, the
#: round-trip parser refuses it), the YAML 1.1 line breaks NEL, LS and PS (libyaml breaks lines there, YAML 1.2
#: does not) and a byte order mark after the start (libyaml skips it between tokens).
_PARSERS_DISAGREE = re.compile("[\t\x85\u2028\u2029\ufeff]")


def spec_relative(spec_path: Path, value: str) -> Path:
    """A path written in the spec at ``spec_path``, as an absolute path: relative ones start at the spec's
    folder (as in Docker Compose), whatever the working directory; ``~/`` is the user's home.

    ``..`` is resolved in the text, as Compose does, so the folder printed is the folder meant."""
    written = Path(os.path.expanduser(value) if value.startswith("~") else value)
    return Path(os.path.normpath(spec_path.absolute().parent / written))


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)  # `16:9` stays a string; 1.1 would read it as the sexagesimal integer 969
    yaml.allow_duplicate_keys = False
    return yaml


def _plain_yaml() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.version = (1, 2)  # resolves scalars exactly as `_yaml` does: `16:9` text, `0o17` 15, `yes` text
    yaml.allow_duplicate_keys = False
    return yaml


def load_document(path: Path, text: str | None = None) -> CommentedMap:
    """Parse a campaign file into a ruamel.yaml mapping that remembers every key's and value's position."""
    name = str(path)
    if text is None:
        text = read_text(path)
    for match in _DIRECTIVE.finditer(text):
        version = match.group(1)
        if version != "1.2":
            line = text.count("\n", 0, match.start()) + 1
            hint = "remove the directive"
            if version in ("1.0", "1.1"):
                hint += ' and quote ratios ("16:9"): YAML 1.1 reads 16:9 as the number 969'
            raise SpecError([Diagnostic(
                name, line, 1, f"the file declares %YAML {version}; campaigns are read as YAML 1.2", hint=hint,
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
    except (AttributeError, NotImplementedError, TypeError, ValueError) as exc:
        # ruamel's round-trip reader has a few internal failures on odd input (a comment where it does not
        # expect one, say): still the file's problem, reported as such rather than as a crash.
        raise SpecError([Diagnostic(name, 1, 1, f"invalid YAML: the reader could not make sense of this file "
                                    f"({type(exc).__name__}: {exc})",
                                    hint="check the indentation and comments, or quote unusual values")]) from None
    if doc is None:
        raise SpecError([Diagnostic(name, 1, 1, "the file is empty; a campaign needs version, campaign and jobs")])
    if not isinstance(doc, CommentedMap):
        kind = "a list" if isinstance(doc, CommentedSeq) else f"a {type(doc).__name__}"
        raise SpecError([Diagnostic(
            name, 1, 1, f"a campaign is a mapping (version:, campaign:, jobs:), but this file holds {kind}"
        )])
    try:
        problems = check_values(doc, name)
    except RecursionError:
        problems = [Diagnostic(name, 1, 1, "invalid YAML: nested too deeply")]
    if problems:
        raise SpecError(problems)
    return doc


def load_plain(text: str) -> dict[Any, Any] | None:
    """The campaign in ``text`` as plain Python values (dict, list, str, int, float, bool, None, dates), parsed
    by ruamel's C parser: several times faster than `load_document`, but without positions.

    None whenever that tree might differ from the one `load_document` gives, or might not load cleanly: no C
    parser, a character the parsers read differently (a tab, for one), a ``%YAML`` directive other than 1.2,
    anything the C parser refuses, a document that is not a mapping, tags, merge keys, anchored scalars, block
    scalars, deep nesting, or a problem `check_values` finds. The caller then loads the file with
    `load_document`, which reports each problem at its place.
    """
    if CParser is None or _PARSERS_DISAGREE.search(text):
        return None
    if any(m.group(1) != "1.2" for m in _DIRECTIVE.finditer(text)):
        return None  # `load_document` refuses it
    try:
        if not _plain_tree_is_faithful(text):
            return None
        doc = _plain_yaml().load(text)
        if not isinstance(doc, dict) or check_values(doc, ""):
            return None
    except Exception:  # a syntax error, a duplicate key, RecursionError...: the round-trip path says where
        return None
    return doc


def _plain_tree_is_faithful(text: str) -> bool:
    """Whether the safe loader's tree of ``text`` holds exactly the values of the round-trip tree, and is
    shallow enough for the C parser to build; judged from the parser's events, which cost a fraction of a load.

    The two loaders resolve untagged scalars alike (YAML 1.2) but part ways on explicit tags (round-trip
    keeps ``!!str 5`` as a TaggedScalar, which ``id:`` refuses), merge keys (``<<``: merged keys come first
    in safe mode, last in round-trip mode, and key order is matrix order) and anchored scalars (round-trip
    reads ``&on true`` as a ScalarBoolean, an int); and the parsers on block scalars (``|``, ``>``: the
    round-trip one refuses some blank lines ahead of the text that libyaml reads). Anchors on mappings and
    lists, and aliases, are fine.
    """
    parser = CParser(text)
    try:
        depth = 0
        while True:
            event = parser.get_event()
            if event is None or isinstance(event, StreamEndEvent):
                return True
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_PLAIN_DEPTH or event.tag is not None:
                    return False
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
            elif isinstance(event, ScalarEvent) and (
                event.tag is not None or event.anchor is not None or event.value == "<<" or event.style in ("|", ">")
            ):
                return False
    finally:
        parser.dispose()


def check_values(doc: dict[Any, Any], name: str) -> list[Diagnostic]:
    """Located errors for values a campaign cannot hold (custom tags, ``!!binary``, ``!!set``, text with a
    lone surrogate), and one error when aliases expand the document beyond `MAX_EXPANDED_VALUES`."""
    problems: list[Diagnostic] = []
    sizes: dict[int, int] = {}  # id of a mapping or list -> its size with aliases expanded
    written = 0  # values as written: each mapping or list once, with its direct children

    def where(parent: Any, key: Any) -> tuple[int, int]:
        return value_position(parent, key) or node_position(parent) or (1, 1)

    def visit(node: Any) -> int:
        nonlocal written
        known = sizes.get(id(node))
        if known is not None:
            return known  # an alias of a node already seen: count it again, do not look at it again
        sizes[id(node)] = 1  # a node met again while it is being visited (a recursive alias) counts once
        written += 1 + len(node)
        items = node.items() if isinstance(node, dict) else enumerate(node)
        size = 1
        for key, value in items:
            if isinstance(key, str) and _SURROGATE.search(key):
                problems.append(Diagnostic(name, *(key_position(node, key) or (1, 1)), _SURROGATE_MESSAGE))
            if isinstance(value, dict | list):
                size += visit(value)
                tag = getattr(getattr(value, "tag", None), "value", None)
                if tag is not None and not tag.startswith("tag:yaml.org,2002:"):
                    problems.append(Diagnostic(name, *where(node, key), f"the YAML tag {tag} is not supported "
                                               "in a campaign", hint="remove the tag"))
            else:
                size += 1
                message = _unsupported(value)
                if message:
                    problems.append(Diagnostic(name, *where(node, key), message[0], hint=message[1]))
        sizes[id(node)] = size
        return size

    total = visit(doc)
    if total > MAX_EXPANDED_VALUES and total > 10 * written:
        problems.append(Diagnostic(
            name, 1, 1, f"the file's aliases (*name) expand it to {total:,} values",
            hint="write the values out, or use defaults, vars and matrix instead of nested aliases",
        ))
    return problems


def _unsupported(value: Any) -> tuple[str, str] | None:
    """(message, hint) for a scalar a campaign cannot hold, or None."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            return _SURROGATE_MESSAGE, "write the character itself, or its \\U escape"
        return None
    if isinstance(value, TaggedScalar):
        tag = value.tag.value
        if tag == STR_TAG:
            return None
        return f"the YAML tag {tag} is not supported in a campaign", "remove the tag"
    if isinstance(value, bytes):
        return "binary values (!!binary) are not supported in a campaign", "write text, or a URL to the file"
    if isinstance(value, AbstractSet):
        return "sets (!!set) are not supported in a campaign", "write a list: [a, b]"
    return None


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
            if node[key] is None:
                # An empty value (`prompt:` at the end of a line) has no position of its own: ruamel gives
                # the next token's, often on a later line. The key is where the user looks.
                key_line, key_col = node.lc.key(key)
                if key_line != line:
                    line, col = key_line, key_col
    except (AttributeError, KeyError, TypeError, IndexError):
        return None
    return line + 1, col + 1


def node_position(node: Any) -> tuple[int, int] | None:
    """1-based (line, column) where a mapping or sequence starts, or None."""
    try:
        return node.lc.line + 1, node.lc.col + 1
    except AttributeError:
        return None


_MISSING = object()


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
                part = next((k for k in node if type(k) is not str and key_text(k) == part), _MISSING)
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


def to_plain(value: Any) -> Any:
    """ruamel.yaml's round-trip types as plain Python values (dates become ISO text).

    Keys become text as YAML writes them (``null``, ``true``, ``3``); anything else unexpected becomes text,
    so the result is always JSON-ready.
    """
    if isinstance(value, dict):
        return {k if type(k) is str else key_text(k): to_plain(v) for k, v in value.items()}
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
