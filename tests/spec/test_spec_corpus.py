"""A corpus of bad campaign files, each carrying the diagnostics it must produce as comments.

Comment lines in each ``tests/spec/corpus/*.yaml`` file (at the end, so they shift no line):

``# expect: LINE:COL SEVERITY TEXT``
    a diagnostic of that severity at that place whose formatted line contains TEXT. The set of places of
    all diagnostics of the file must be exactly the expected set: everything is found in one pass, and
    nothing else is reported.
``# not: LINE:COL TEXT``
    the diagnostic at that place does not contain TEXT (no misleading suggestion).
``# dropped: JOB PATH``
    the file is valid, and in ``plan --json`` the request of JOB has nothing at PATH (``options.kling.x``,
    ``referenceImages[1]``): a value the server would drop is not sent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from photogpt_batch.cli import cli
from photogpt_batch.spec.diagnostics import Diagnostic, SpecError
from photogpt_batch.spec.load import load_campaign

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*.yaml"))

_EXPECT = re.compile(r"^#\s*expect:\s*(\d+):(\d+)\s+(error|warning)\s+(.+?)\s*$")
_NOT = re.compile(r"^#\s*not:\s*(\d+):(\d+)\s+(.+?)\s*$")
_DROPPED = re.compile(r"^#\s*dropped:\s*(\S+)\s+(\S+)\s*$")


@dataclass
class Expectations:
    """What one corpus file says about itself."""

    expect: list[tuple[int, int, str, str]] = field(default_factory=list)
    absent: list[tuple[int, int, str]] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)


def expectations(path: Path) -> Expectations:
    found = Expectations()
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := _EXPECT.match(line):
            found.expect.append((int(m[1]), int(m[2]), m[3], m[4]))
        elif m := _NOT.match(line):
            found.absent.append((int(m[1]), int(m[2]), m[3]))
        elif m := _DROPPED.match(line):
            found.dropped.append((m[1], m[2]))
    return found


def diagnostics_of(path: Path) -> list[Diagnostic]:
    try:
        return load_campaign(path).diagnostics
    except SpecError as exc:
        return exc.diagnostics


def at(request: Any, dotted: str) -> Any:
    """The value at ``a.b[1].c`` in ``request``, or KeyError/IndexError when it is not there."""
    value = request
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", dotted):
        value = value[int(index)] if index else value[name]
    return value


def test_corpus_is_large_enough() -> None:
    assert len(FILES) >= 15


def test_every_corpus_file_states_its_expectations() -> None:
    assert [p.name for p in FILES if not expectations(p).expect] == []


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_corpus_file_gives_exactly_its_expected_diagnostics(path: Path) -> None:
    wanted = expectations(path)
    got = diagnostics_of(path)
    assert sorted({(d.line, d.column, d.severity) for d in got}) == sorted(
        {(line, col, severity) for line, col, severity, _ in wanted.expect}
    ), "\n".join(d.format() for d in got)
    for line, col, severity, text in wanted.expect:
        here = [d.format() for d in got if (d.line, d.column, d.severity) == (line, col, severity)]
        assert any(text in h for h in here), f"{line}:{col}: {text!r} not in {here}"
    for line, col, text in wanted.absent:
        here = [d.format() for d in got if (d.line, d.column) == (line, col)]
        assert here and not any(text in h for h in here), here


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_corpus_file_gets_the_same_located_lines_from_the_cli(path: Path) -> None:
    wanted = expectations(path)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    has_errors = any(severity == "error" for *_, severity, _ in wanted.expect)
    assert result.exit_code == (2 if has_errors else 0), result.output
    assert "Traceback" not in result.output
    for line, col, severity, _ in wanted.expect:
        assert f"{path}:{line}:{col}: {severity}: " in result.output


DROPPING = [p for p in FILES if expectations(p).dropped]


@pytest.mark.parametrize("path", DROPPING, ids=[p.stem for p in DROPPING])
def test_dropped_values_are_absent_from_the_planned_request(path: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", "--json", str(path)])
    assert result.exit_code == 0, result.output
    jobs = {job["id"]: job for job in json.loads(result.stdout)["jobs"]}
    for job_id, dotted in expectations(path).dropped:
        with pytest.raises((KeyError, IndexError)):
            at(jobs[job_id]["request"], dotted)
        assert jobs[job_id]["warnings"], f"{job_id}: a dropped value must come with a warning"


def test_dropped_reference_image_leaves_the_other_images_in_order(tmp_path: Path) -> None:
    campaign = load_campaign(CORPUS / "dropped_values.yaml")
    job = next(j for j in campaign.jobs if j.id == "seedance-ref")
    assert job.body["referenceImages"] == [{"url": "https://example.com/a.png", "role": "first_frame"}]


def test_dropped_kling_aspect_ratio_keeps_the_other_options() -> None:
    campaign = load_campaign(CORPUS / "dropped_values.yaml")
    job = next(j for j in campaign.jobs if j.id == "kling-image")
    assert job.body["options"] == {"kling": {"duration": 5}}


def test_dropping_every_option_sends_no_options_group() -> None:
    campaign = load_campaign(CORPUS / "dropped_values.yaml")
    job = next(j for j in campaign.jobs if j.id == "kling-elements")
    assert "options" not in job.body


def test_a_whole_number_written_as_a_decimal_is_not_an_integer(tmp_path: Path) -> None:
    # JSON Schema would accept 8.0 as an integer; the request body would then carry 8.0.
    spec = tmp_path / "f.yaml"
    spec.write_text("version: 1\ncampaign: f\njobs:\n  - id: a\n    model: veo-3.1\n    prompt: p\n"
                    "    options: {duration: 8.0, seed: 3.0}\n")
    with pytest.raises(SpecError) as info:
        load_campaign(spec)
    messages = [d.format() for d in info.value.diagnostics]
    assert any(":7:25: error: options.duration: expected a whole number" in m for m in messages)
    assert any(":7:36: error: options.seed: expected a whole number" in m for m in messages)
