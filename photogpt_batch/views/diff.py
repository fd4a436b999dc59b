"""What changed between two versions of a job's request body, field by field (what ``plan`` shows).

Paths use the spec's names: ``model`` for ``modelID``, and ``options.duration`` for the body's
``options.<group>.duration`` (the spec writes options flat). Mappings are compared key by key; a list is one
value (a reference list that changed is shown whole).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

#: Body keys shown under the spec's name.
SPEC_NAMES = {"modelID": "model"}
#: A value not there on one side.
ABSENT: Any = object()


class Change(NamedTuple):
    """One changed field: its path and its value before and after (`ABSENT` when missing on that side)."""

    path: str
    old: Any
    new: Any

    def to_json(self) -> dict[str, Any]:
        """``{path, old, new}``; a side without the field is left out."""
        entry: dict[str, Any] = {"path": self.path}
        if self.old is not ABSENT:
            entry["old"] = self.old
        if self.new is not ABSENT:
            entry["new"] = self.new
        return entry

    def describe(self) -> str:
        """``prompt: "a" → "b"``, ``options.duration: 4 → 8``, ``options.seed: (none) → 7``."""
        return f"{self.path}: {_show(self.old)} → {_show(self.new)}"


def _show(value: Any) -> str:
    return "(none)" if value is ABSENT else json.dumps(value, ensure_ascii=False)


def _flat_options(body: dict[str, Any]) -> dict[str, Any]:
    """The body with its one option group flattened, as the spec writes it."""
    flat = {SPEC_NAMES.get(k, k): v for k, v in body.items() if k != "options"}
    options: dict[str, Any] = {}
    for group in (body.get("options") or {}).values():
        if isinstance(group, dict):
            options.update(group)
    if options:
        flat["options"] = options
    return flat


def _walk(old: Any, new: Any, path: str) -> Iterator[Change]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            yield from _walk(old.get(key, ABSENT), new.get(key, ABSENT), f"{path}.{key}" if path else str(key))
    elif old is ABSENT or new is ABSENT or old != new or type(old) is not type(new):
        yield Change(path, old, new)


def body_diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """The fields that differ between request bodies ``old`` and ``new``, in the order the old body has them
    (then the new body's additions)."""
    return list(_walk(_flat_options(old), _flat_options(new), ""))
