"""How paths and values are written in messages: one `dotted` path and one `show` for every value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..campaign import canonical_json
from ..models import JsonPath

#: A value shown in a message is cut to this many characters, so that one message stays one line.
_SHOWN_LENGTH = 60


def dotted(path: JsonPath) -> str:
    """``options.duration``, ``referenceImages[2].url``: a path as users write it (``job`` for the root)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "job"


def scalar_text(value: Any) -> str | None:
    """A scalar as YAML writes it plainly (``true``, ``null``, ``8``, text as is), or None when not a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def key_text(key: Any) -> str:
    """A mapping key as text: what YAML writes for a scalar (``3``, ``null``), else its ``str``."""
    text = scalar_text(key)
    return str(key) if text is None else text


def show(value: Any, quote_text: bool = False) -> str:
    """A value as a message shows it: as YAML would write it, collections as JSON (cut to 60 characters).

    Text is quoted when it would be hard to read bare (empty, a ':' as in ratios, spaces at either end); with
    ``quote_text``, always (Python's quotes): for names and keys, whose edges matter (``'Spring Launch'``).
    """
    if isinstance(value, str):
        if quote_text:
            return repr(value)
        return f'"{value}"' if (":" in value or not value or value.strip() != value) else value
    text = scalar_text(value)
    if text is not None:
        return text
    if isinstance(value, Mapping | list | tuple):  # a YAML key can be a mapping or list too (read as tuples)
        try:
            text = canonical_json(dict(value) if isinstance(value, Mapping) else list(value))
        except (TypeError, ValueError):  # keys JSON cannot sort, or a value it cannot write (a YAML date)
            return "a mapping" if isinstance(value, Mapping) else "a list"
        return text if len(text) <= _SHOWN_LENGTH else text[: _SHOWN_LENGTH - 3] + "..."
    return str(value)
