"""Located diagnostics: what is wrong, where (file:line:column), and how to fix it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import UsageError

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    """One finding in a spec file. ``line`` and ``column`` are 1-based."""

    file: str
    line: int
    column: int
    message: str
    severity: Severity = "error"
    hint: str | None = None

    def format(self) -> str:
        """``file:line:col: severity: message (hint)``: one grep-able line that editors jump to."""
        text = f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"
        if self.hint:
            text += f"; {self.hint}"
        return text

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict of this diagnostic."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
        }


class SpecError(UsageError):
    """A spec that cannot be used; carries every diagnostic found (errors and warnings)."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        #: The spec as the user named it, for the command line's summary line (None: not known).
        self.source: str | None = None
        errors = [d for d in diagnostics if d.severity == "error"]
        super().__init__(errors[0].format() if errors else "invalid spec")

    def to_json(self) -> dict[str, Any]:
        """What ``--json`` prints: every diagnostic."""
        return {"ok": False, "diagnostics": [d.to_json() for d in self.diagnostics]}


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics in file order, duplicates removed."""
    unique = dict.fromkeys(diagnostics)
    return sorted(unique, key=lambda d: (d.file, d.line, d.column, d.severity != "error", d.message))


_RESOLUTION = re.compile(r"^\s*\d+\s*[pPkK]\s*$")
_RATIO = re.compile(r"^\s*(\d+)\s*[:/x×]\s*(\d+)\s*$")


def _normalise(value: str) -> str:
    match = _RATIO.match(value)
    if match:
        return f"{match.group(1)}:{match.group(2)}"
    return value.strip().lower().replace("_", "").replace("-", "")


def suggest(value: object, choices: Iterable[object]) -> str | None:
    """``did you mean 'x'?`` for a near miss, or None.

    Ratios are normalised first (``16/9``, ``16x9`` → ``16:9``) because difflib alone ranks short ratio
    strings badly (it would offer ``1:1`` for ``16:10``); names are compared case- and separator-blind.
    """
    if not isinstance(value, str):
        return None
    options = [c for c in choices if isinstance(c, str)]
    if not options:
        return None
    wanted = _normalise(value)
    for option in options:
        if _normalise(option) == wanted:
            return f"did you mean {option!r}?"
    if _RATIO.match(value) or _RESOLUTION.match(value):
        return None  # well-formed but unsupported: the allowed list says it all, a near number would mislead
    by_norm = {_normalise(o): o for o in options}
    close = difflib.get_close_matches(wanted, list(by_norm), n=1, cutoff=0.6)
    if close:
        return f"did you mean {by_norm[close[0]]!r}?"
    return None
