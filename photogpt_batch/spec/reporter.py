"""Where expansion collects its diagnostics, and the checks it reports through in several places."""

from __future__ import annotations

from typing import Any

from .diagnostics import Diagnostic, suggest
from .document import Pos, YamlMap, key_position
from .templates import RESERVED_NAMES, VAR_NAME
from .text import key_text, show


class Reporter:
    """The diagnostics of one file, in the order found (sorted later, with the validator's)."""

    def __init__(self, file: str):
        self.file = file
        self.diagnostics: list[Diagnostic] = []

    def error(self, pos: Pos | None, message: str, hint: str | None = None, file: str | None = None) -> None:
        """Report an error at ``pos`` (the top of the file when it is unknown); in ``file``, a data file that the
        spec reads (`rows:`), when given."""
        line, col = pos or (1, 1)
        self.diagnostics.append(Diagnostic(file or self.file, line, col, message, "error", hint))

    def warning(self, pos: Pos | None, message: str, hint: str | None = None) -> None:
        """Report a warning at ``pos`` (the top of the file when it is unknown)."""
        line, col = pos or (1, 1)
        self.diagnostics.append(Diagnostic(self.file, line, col, message, "warning", hint))

    def unknown_keys(self, node: YamlMap, allowed: tuple[str, ...], where: str) -> None:
        """Report each key of ``node`` that is not ``allowed``, with the closest allowed one as a hint."""
        for key in node:
            if key not in allowed:
                hint = suggest(str(key), allowed) or f"allowed: {', '.join(allowed)}"
                self.error(key_position(node, key), f"unknown key {show(key_text(key), quote_text=True)} in {where}",
                           hint)

    def placeholder_name(self, key: Any, pos: Pos | None, where: str) -> bool:
        """Whether ``key`` (of ``vars`` or a matrix) may name a placeholder; reports why not."""
        if not isinstance(key, str) or not VAR_NAME.fullmatch(key):
            self.error(pos, f"{where}: {show(key, quote_text=True)} is not a placeholder name (letters, digits "
                       "and _, not starting with a digit)")
            return False
        if key in RESERVED_NAMES and where == "vars":
            self.error(pos, f"vars: {{{key}}} is always the job's model id, so this var would never be used",
                       "choose another name, or set the model with `model:` or a matrix key `model`")
            return False
        return True
