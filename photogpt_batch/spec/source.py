"""A spec file's bytes and text, with a located error for a file that cannot be a campaign: apart from the YAML
reader (`document`), so that a load its memo answers reads the file without importing the parser."""

from __future__ import annotations

from pathlib import Path

from .diagnostics import Diagnostic, SpecError

#: The largest campaign file read. A matrix of 100,000 jobs takes a few kB, and an explicit list of them with
#: long prompts under 100 MB; without a bound, a mistyped path such as /dev/zero would be read until memory runs
#: out.
MAX_SPEC_BYTES = 256 << 20


def read_bytes(path: Path) -> bytes:
    """The file's bytes (one more than `MAX_SPEC_BYTES` at most, for `spec_text` to refuse), or a `SpecError`
    saying why it cannot be read."""
    name = str(path)
    try:
        with open(path, "rb") as f:
            return f.read(MAX_SPEC_BYTES + 1)
    except IsADirectoryError:
        raise SpecError([Diagnostic(name, 1, 1, "is a directory, not a campaign file")]) from None
    except OSError as exc:
        raise SpecError([Diagnostic(name, 1, 1, f"cannot read the file: {exc.strerror or exc}")]) from None


def spec_text(path: Path, data: bytes) -> str:
    """The text of the campaign file at ``path`` whose bytes are ``data``, or a `SpecError` saying why it is not
    a UTF-8 text file of a campaign's size."""
    name = str(path)
    if b"\x00" in data[:8192]:
        raise SpecError([Diagnostic(name, 1, 1, "is a binary file, not a YAML campaign")])
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError([Diagnostic(name, 1, 1, f"is larger than {MAX_SPEC_BYTES >> 20} MiB; a campaign is far "
                                                "smaller (a matrix expands into many jobs)")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpecError([Diagnostic(name, line, 1, "is not UTF-8 text; save the campaign as UTF-8")]) from None
    return text


def read_text(path: Path) -> str:
    """The file's text, or a `SpecError` saying why it is not a readable UTF-8 text file."""
    return spec_text(path, read_bytes(path))
