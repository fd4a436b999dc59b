"""Large JSON documents written piece by piece: ``plan --json`` and ``status --json`` on 100,000 jobs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO, Any


def needs_ascii(stream: IO[str]) -> bool:
    """Whether JSON for ``stream`` must escape non-ASCII text (``\\u00e9``): it cannot encode all of Unicode
    (``PYTHONIOENCODING=ascii``, a Latin-1 terminal). The escaped form is the same JSON to any reader."""
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "").replace("_", "")
    return encoding not in ("utf8", "utf8sig", "utf16", "utf32")


def iter_json(document: dict[str, Any], key: str, items: Iterable[dict[str, Any]],
              ensure_ascii: bool = False) -> Iterator[str]:
    """``document`` with ``document[key]`` (an empty list placeholder) filled from ``items``, as text.

    The text is exactly ``json.dumps(filled, indent=2, ensure_ascii=ensure_ascii) + "\\n"``, but neither the
    list nor the whole string is ever held in memory (``json.dumps`` with an indent keeps every piece until the
    end: ~300 MB for a 100,000-job plan).
    """
    encoder = json.JSONEncoder(indent=2, ensure_ascii=ensure_ascii)
    # A top-level key is the only thing on a line indented by exactly two spaces and opened by a quote
    # (quotes inside strings are escaped; nested keys are indented deeper), so this marker is unique.
    marker = f"\n  {json.dumps(key, ensure_ascii=False)}: []"
    before, after = encoder.encode({**document, key: []}).split(marker, 1)
    yield before + marker[:-1]
    empty = True
    for item in items:
        text = encoder.encode(item).replace("\n", "\n    ")  # newlines inside values are escaped: safe
        yield ("\n    " if empty else ",\n    ") + text
        empty = False
    yield ("]" if empty else "\n  ]") + after + "\n"


def write_json(stream: IO[str], document: dict[str, Any], key: str, items: Iterable[dict[str, Any]]) -> None:
    """Write `iter_json` to ``stream`` (escaping non-ASCII text if the stream cannot take it)."""
    for piece in iter_json(document, key, items, ensure_ascii=needs_ascii(stream)):
        stream.write(piece)
