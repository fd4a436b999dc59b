"""What changed between two versions of a job's request body, field by field (what ``plan`` shows).

Paths use the spec's names: ``model`` for ``modelID``, and ``options.duration`` for the body's
``options.<group>.duration`` (the spec writes options flat). Mappings are compared key by key, and so are the
items of two lists of mappings of one length (``referenceImages[0].url``); any other list is one value (a
reference list that grew or shrank is shown whole). A local file's reference shows as its content's change
(``file content: sha256 342403c69df4... → 9f1907b92814...``): a job's identity is its files' content; another job's
output shows as that job's change (``from shot-1, which changed: version 2c5e2d663b48bb69 → 9a0e...``): a job's
identity includes the content of the jobs it takes outputs from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

from ..assets.kinds import parse_asset_ref
from ..assets.output_ref import parse_output_ref

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
        """``prompt: "a" → "b"``, ``options.duration: 4 → 8``, ``options.seed: (none) → 7``;
        ``referenceImages[0].url: file content: sha256 342403c69df4... → 9f1907b92814...``;
        ``referenceImages[0].url: from shot-1, which changed: version 2c5e2d663b48bb69 → 9a0e5f27c1d4b8e3``."""
        old, new = parse_asset_ref(self.old), parse_asset_ref(self.new)
        if old is not None and new is not None:
            return f"{self.path}: file content: sha256 {old[0][:12]}... → {new[0][:12]}..."
        was, now = parse_output_ref(self.old), parse_output_ref(self.new)
        if was is not None and now is not None and (was.job, was.frame) == (now.job, now.frame):
            return f"{self.path}: from {now.job}, which changed: version {was.upstream} → {now.upstream}"
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
    elif _mappings(old) and _mappings(new) and len(old) == len(new):
        for index, (was, now) in enumerate(zip(old, new, strict=True)):
            yield from _walk(was, now, f"{path}[{index}]")
    elif old is ABSENT or new is ABSENT or old != new or type(old) is not type(new):
        yield Change(path, old, new)


def _mappings(value: Any) -> bool:
    """A list whose items are all mappings (a list of references)."""
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def body_diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """The fields that differ between request bodies ``old`` and ``new``, in the order the old body has them
    (then the new body's additions)."""
    return list(_walk(_flat_options(old), _flat_options(new), ""))
