"""Property tests: no input, however mangled, crashes the spec layer.

Mutated versions of the example campaigns (bytes and lines deleted, YAML fragments inserted, keys renamed)
and random YAML-ish text either load or raise `SpecError`; ``validate`` exits 0 or 2 and never prints a
traceback.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photogpt_batch.cli import cli
from photogpt_batch.plugins import get_registry
from photogpt_batch.spec.diagnostics import SpecError
from photogpt_batch.spec.load import load_campaign

SPECS = sorted((Path(__file__).parents[2] / "specs").glob("*.yaml"))
EXAMPLES = [p.read_bytes() for p in SPECS]
KEY = re.compile(rb"^(\s*-?\s*)([A-Za-z_]+):", re.MULTILINE)

FRAGMENTS = [
    b": ", b"- ", b"-", b"{", b"}", b"[", b"]", b",", b'"', b"'", b"#", b"&a ", b"*a", b"*nope", b"!!binary ",
    b"!tag ", b"!!str ", b"!!set ", b"? ", b"|", b">", b"%YAML 1.1\n", b"---\n", b"...\n", b"\t", b"\x00",
    b"\xff\xfe", b"\xe9", "ü".encode(), "🎬".encode(), b"{model}", b"{seed}", b"{nope}", b"{{", b"}}", b"{",
    b"16:9", b"969", b"0x1F", b".inf", b".nan", b"-1", b"1e999", b"99999999999999999999999", b"null", b"~",
    b"true", b"yes", b"2001-12-14", b"\n", b"\n  ", b"\n    - ", b"  ", b"exclude: [{a: 1}]", b"matrix: {}",
    b"matrix: {model: [veo-3.1, nope]}", b"options: {veo: {duration: 8}}", b"referenceImages: [{url: x}]",
    b"id: a/../b", b"id: .x", b"numVideos: 0", b"<<: {model: x}", b"\"\\ud800\"", b"\"\\x00\"", b"\r\n", b"\r",
]
NAMES = [b"version", b"campaign", b"jobs", b"id", b"model", b"prompt", b"options", b"matrix", b"exclude",
         b"defaults", b"vars", b"duration", b"aspectRatio", b"ratio", b"seed", b"referenceImages", b"url",
         b"role", b"elementIDs", b"numVideos", b"x", b"", b"1", b"null", b"{model}", b"a b"]

RUNNER = CliRunner()


@st.composite
def mutated_example(draw: st.DrawFn) -> bytes:
    """An example campaign with a few random edits."""
    data = bytearray(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete-bytes", "delete-line", "insert", "rename-key", "duplicate-line"]))
        if kind == "delete-bytes" and data:
            start = draw(st.integers(0, len(data) - 1))
            del data[start : start + draw(st.integers(1, 12))]
        elif kind == "insert":
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.sampled_from(FRAGMENTS))
        else:
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            if kind == "delete-line":
                del lines[i]
            elif kind == "duplicate-line":
                lines.insert(i, lines[i])
            else:
                lines[i] = KEY.sub(lambda m: m.group(1) + draw(st.sampled_from(NAMES)) + b":", lines[i], count=1)
            data = bytearray(b"\n".join(lines))
    return bytes(data)


YAMLISH = st.text(alphabet=st.sampled_from(list(":-{}[],'\"#&*!?|>%@`\n \tabc19.~ü\x00")), max_size=200)


def check(data: bytes) -> None:
    """Loading ``data`` returns a campaign or raises SpecError; ``validate`` exits 0 or 2, no traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_bytes(data)
        try:
            load_campaign(path, get_registry())
        except SpecError as exc:
            assert any(d.severity == "error" for d in exc.diagnostics)
            assert all(d.line >= 1 and d.column >= 1 for d in exc.diagnostics)
        result = RUNNER.invoke(cli, ["validate", str(path)])
        assert result.exit_code in (0, 2), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert "Traceback" not in result.output


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow  # seconds of CPU by design: out of the fast inner loop (see docs/development.md)
@pytest.mark.slow  # seconds of CPU by design: out of the fast inner loop (see docs/development.md)
@FUZZ
@given(mutated_example())
def test_mutated_examples_never_crash_the_loader(data: bytes) -> None:
    check(data)


@pytest.mark.slow  # seconds of CPU by design: out of the fast inner loop (see docs/development.md)
@FUZZ
@given(YAMLISH)
def test_random_yamlish_text_never_crashes_the_loader(text: str) -> None:
    check(text.encode("utf-8"))


@pytest.mark.slow  # seconds of CPU by design: out of the fast inner loop (see docs/development.md)
@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_loader(data: bytes) -> None:
    check(data)


def test_the_unmutated_examples_are_valid() -> None:
    for path in SPECS:
        assert load_campaign(path).jobs, path
