"""A job entry's matrix: its axes (every list of values under ``matrix:``), their cross product in the order
written, the ``exclude`` rules that drop combinations, and where in the file each model of the matrix is."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterator
from typing import Any

from .diagnostics import suggest
from .document import Pos, YamlMap, key_position, to_plain, value_position
from .reporter import Reporter
from .templates import Cell
from .text import show


def value_key(value: Any) -> Hashable:
    """A hashable stand-in for a value, equal only for values that are the same (``1`` is not ``true``)."""
    if value is None or type(value) in (str, int, float, bool):
        return (type(value), value)
    if type(value) is Cell:  # a CSV cell: the same text is the same value
        return ("cell", value.text)
    return ("object", id(value))  # matrix and vars values live as long as their entry is expanded


def content_key(value: Any) -> Hashable:
    """A hashable stand-in for a loaded YAML value and everything in it, equal only for values that are the
    same, key order and types included (``1`` is not ``true`` nor ``1.0``)."""
    if isinstance(value, dict):
        return ("map", tuple((content_key(k), content_key(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("seq", tuple(content_key(v) for v in value))
    return value_key(value)


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


class Matrix:
    """A job entry's matrix: its axes in the order written, its exclude rules and where its models are."""

    def __init__(self, node: YamlMap | None, axes: list[tuple[str, list[Any]]],
                 excludes: list[dict[str, Any]] | None, model_positions: dict[Hashable, dict[str, Pos]]):
        self.node = node
        self.axes = axes
        self.excludes = excludes
        self._model_positions = model_positions
        self._used = [False] * len(excludes or ())

    @classmethod
    def read(cls, entry: YamlMap, rep: Reporter) -> Matrix | None:
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
            if not rep.placeholder_name(key, key_position(node, key), "matrix"):
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
                            model_positions.setdefault(value_key(value), {"model": where})
        excludes = None
        if "exclude" in node:
            excludes = cls._read_excludes(node, [a[0] for a in axes], rep)
            ok = ok and excludes is not None
        if not ok:
            return None
        return cls(node, axes, excludes, model_positions)

    @staticmethod
    def _read_excludes(node: YamlMap, names: list[str], rep: Reporter) -> list[dict[str, Any]] | None:
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
                    rep.error(key_position(rule, key),
                              f"matrix.exclude[{i}]: {show(key, quote_text=True)} is not a matrix key",
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
        return self._model_positions.get(value_key(model), _NO_POSITIONS)

    def unused_excludes(self) -> list[int]:
        """Indexes of the exclude rules that matched no combination (after `combos` ran to the end)."""
        return [i for i, used in enumerate(self._used) if not used]


_NO_POSITIONS: dict[str, Pos] = {}
