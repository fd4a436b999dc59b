"""The quick way in: a campaign read by ruamel's C parser (plain values, no positions) gives exactly what the
round-trip reading gives, and anything with something to report is read again with positions.

`load_campaign` tries `load_plain` first; a file it gives up on, or whose plain tree has any diagnostic, goes
through `load_document` as before. Whatever path a file takes, the result must be the same: the same jobs,
bodies, content hashes and order, or the same located diagnostics.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from photogpt_batch.plugins import get_registry
from photogpt_batch.spec import build, document
from photogpt_batch.spec.diagnostics import SpecError
from photogpt_batch.spec.document import load_document, load_plain
from photogpt_batch.spec.load import load_campaign

ROOT = Path(__file__).parents[2]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.yaml"))
FILES = SPECS + CORPUS

VALID = """version: 1
campaign: fast
jobs:
  - id: "hero-{ratio}"
    model: veo-3.1
    prompt: a bottle on wet stone
    matrix:
      ratio: [ "9:16", '16:9' ]
    options: {aspectRatio: "{ratio}", duration: 8, seed: 0x1F}
"""


@contextmanager
def round_trip_only() -> Iterator[None]:
    """Every load takes the round-trip path, as it does when ruamel.yaml.clib is not installed."""
    with mock.patch.object(document, "CParser", None):
        yield


@contextmanager
def counting_round_trip_loads() -> Iterator[mock.MagicMock]:
    """``load_document`` as usual, counting its calls: 0 means the file took the quick path."""
    with mock.patch.object(build, "load_document", wraps=load_document) as counted:
        yield counted


def outcome(path: Path) -> tuple[Any, ...]:
    """Everything a caller can observe of loading ``path``. Bodies are compared as JSON, in their key order,
    so that ``true`` differs from ``1`` and ``8.0`` from ``8``."""
    try:
        campaign = load_campaign(path)
    except SpecError as exc:
        return ("error", [d.format() for d in exc.diagnostics])
    jobs = [(j.id, j.model, json.dumps(j.body, ensure_ascii=False), j.content_hash, j.num_videos, j.warnings)
            for j in campaign.jobs]
    return ("ok", campaign.name, campaign.output, campaign.spec_path, jobs, [d.format() for d in campaign.diagnostics])


def both_ways(path: Path) -> tuple[tuple[Any, ...], tuple[Any, ...], bool]:
    """(outcome as loaded, outcome through the round-trip path only, whether the first took the quick path)."""
    with counting_round_trip_loads() as counted:
        quick = outcome(path)
    with round_trip_only():
        slow = outcome(path)
    return quick, slow, counted.call_count == 0


def write(tmp_path: Path, text: str, name: str = "campaign.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_every_example_and_corpus_file_loads_the_same_either_way(path: Path) -> None:
    quick, slow, _ = both_ways(path)
    assert quick == slow


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_the_examples_take_the_quick_path(path: Path) -> None:
    quick, _, fast = both_ways(path)
    assert quick[0] == "ok" and fast


def _problems(doc: dict[Any, Any], path: Path) -> set[tuple[str, str, str | None]]:
    """What the pipeline reports for ``doc``, without positions or the names of the jobs concerned (on a plain
    tree every place is 1:1, so findings at different places about different jobs may be merged)."""
    try:
        diagnostics = build._campaign(path, doc, get_registry()).diagnostics
    except SpecError as exc:
        diagnostics = exc.diagnostics
    found: set[tuple[str, str, str | None]] = set()
    for d in diagnostics:
        message = re.sub(r"first at line \d+", "first at line N", d.message)
        message = re.sub(r"(; | \()(job|\d+ jobs:) .*\)$", lambda m: ")" if m[1] == "; " else "", message)
        found.add((d.severity, message, d.hint))
    return found


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_a_plain_tree_finds_the_same_problems_as_the_positioned_one(path: Path) -> None:
    # The quick path is only sound if a plain tree has a diagnostic whenever the positioned tree has one.
    text = path.read_text(encoding="utf-8")
    plain = load_plain(text)
    if plain is None:
        pytest.skip("the quick parse gives up on this file (a %YAML 1.1 directive)")
    assert _problems(plain, path) == _problems(load_document(path, text), path)


def test_a_valid_campaign_is_read_once_by_the_c_parser(tmp_path: Path) -> None:
    with counting_round_trip_loads() as counted:
        campaign = load_campaign(write(tmp_path, VALID))
    assert counted.call_count == 0
    assert [job.id for job in campaign.jobs] == ["hero-9x16", "hero-16x9"]
    assert campaign.jobs[0].body["options"]["veo"] == {"aspectRatio": "9:16", "duration": 8, "seed": 31}


def test_a_campaign_with_an_error_is_read_again_and_reported_at_its_place(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("duration: 8", "duration: 5"))
    with counting_round_trip_loads() as counted, pytest.raises(SpecError) as caught:
        load_campaign(path)
    assert counted.call_count == 1
    assert [d.format() for d in caught.value.diagnostics] == [
        f"{path}:9:49: error: options.duration: 5 is not one of 4, 6, 8 (veo-3.1; 2 jobs: hero-9x16, hero-16x9)"
    ]


def test_a_campaign_with_only_a_warning_is_read_again_for_the_warnings_place(tmp_path: Path) -> None:
    text = VALID.replace("model: veo-3.1", "model: kling-video-pro").replace(
        "options: {aspectRatio: \"{ratio}\", duration: 8, seed: 0x1F}", "options: {aspectRatio: \"{ratio}\"}\n"
        "    elementIDs: [el_1]")
    with counting_round_trip_loads() as counted:
        campaign = load_campaign(write(tmp_path, text))
    assert counted.call_count == 1
    assert [(d.line, d.severity) for d in campaign.diagnostics] == [(9, "warning")]


def test_without_the_c_parser_every_file_takes_the_round_trip_path(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    expected = outcome(path)
    with round_trip_only(), counting_round_trip_loads() as counted:
        assert load_plain(VALID) is None
        assert outcome(path) == expected
        bad = write(tmp_path, VALID.replace("prompt: a", "prompt: [a"), "bad.yaml")
        with pytest.raises(SpecError) as caught:
            load_campaign(bad)
    assert counted.call_count == 2
    assert caught.value.diagnostics[0].format().startswith(f"{bad}:7:11: error: invalid YAML")


@pytest.mark.slow
def test_when_ruamel_yaml_clib_cannot_be_imported_loading_still_works(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    bad = write(tmp_path, VALID.replace("duration: 8", "duration: 5"), "bad.yaml")
    script = f"""
import sys
sys.modules["_ruamel_yaml"] = None  # what an interpreter without ruamel.yaml.clib sees: ImportError
from photogpt_batch.spec import document
from photogpt_batch.spec.diagnostics import SpecError
from photogpt_batch.spec.load import load_campaign
assert document.CParser is None
print([job.id for job in load_campaign({str(path)!r}).jobs])
try:
    load_campaign({str(bad)!r})
except SpecError as exc:
    print([(d.line, d.column) for d in exc.diagnostics])
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.splitlines() == ["['hero-9x16', 'hero-16x9']", "[(9, 49)]"]


@pytest.mark.parametrize("text", [
    pytest.param(VALID.replace("id: \"hero-{ratio}\"", "id: !!str 5-{ratio}"), id="str-tag-on-id"),
    pytest.param(VALID.replace("campaign: fast", "campaign: !!str fast"), id="str-tag-on-campaign"),
    pytest.param(VALID.replace("prompt: a bottle", "prompt: !!str a bottle"), id="str-tag-on-prompt"),
    pytest.param(VALID.replace("seed: 0x1F}", "seed: 0x1F, generateAudio: &on true}"), id="anchored-boolean"),
    pytest.param(VALID.replace("      ratio:", "      <<: {seed: [1, 2]}\n      ratio:")
                 .replace("seed: 0x1F", "seed: \"{seed}\"").replace("hero-{ratio}", "hero-{seed}-{ratio}"),
                 id="merge-key-order"),
    pytest.param(VALID.replace("[ \"9:16\", '16:9' ]", "[9:16, 16:9]"), id="plain-ratio-in-flow"),
    pytest.param("%YAML 1.1\n---\n" + VALID, id="yaml-1.1-directive"),
    pytest.param(VALID.replace("prompt: a bottle", "prompt: \"a \\ud800 bottle\""), id="surrogate"),
    pytest.param(VALID + "vars: {a: &a [x, x, x, x, x, x, x, x, x, x], "
                 + ", ".join(f"b{i}: &b{i} [" + ", ".join([f"*{'a' if i == 0 else f'b{i - 1}'}"] * 10) + "]"
                             for i in range(7)) + "}\n", id="alias-bomb"),
    pytest.param(VALID.replace("duration: 8", "duration: 8, duration: 8"), id="duplicate-key"),
    pytest.param(VALID.replace("wet stone", "wet stone\t"), id="tab-after-a-value"),
    pytest.param(VALID.replace("\n", "\u2028"), id="yaml-1.1-line-separators"),
    pytest.param(VALID + "\ufeff", id="byte-order-mark-at-the-end"),
    pytest.param(VALID.replace("prompt: a bottle", "prompt: |\n    \n     a bottle"), id="block-scalar"),
    pytest.param(VALID + "---\nversion: 1\n", id="two-documents"),
])
def test_yaml_the_quick_parse_cannot_vouch_for_takes_the_round_trip_path(tmp_path: Path, text: str) -> None:
    # Each of these is read differently by the two loaders, refused by the C parser, or has a problem to report.
    assert load_plain(text) is None
    quick, slow, fast = both_ways(write(tmp_path, text))
    assert quick == slow and not fast


@pytest.mark.slow  # seconds of CPU by design: out of the fast inner loop (see docs/development.md)
def test_nesting_deep_enough_to_crash_the_c_parser_is_refused_cleanly(tmp_path: Path) -> None:
    # libyaml's tree builder recurses in C: 100,000 levels would overflow the C stack and kill the process.
    text = "version: 1\ncampaign: x\njobs: " + "[" * 100_000 + "]" * 100_000 + "\n"
    assert load_plain(text) is None
    with pytest.raises(SpecError) as caught:
        load_campaign(write(tmp_path, text))
    assert "nested too deeply" in caught.value.diagnostics[0].message


# Generated campaigns: a structure of jobs drawn from a few models' real options, written out with every
# YAML style at random (block and flow, plain and quoted scalars, number spellings, comments, anchors,
# aliases, merge keys, tags, CRLF). Many are valid, so both paths really run; the rest must agree too.


@dataclass(frozen=True)
class Anchored:
    name: str
    value: Any


@dataclass(frozen=True)
class Alias:
    name: str


@dataclass(frozen=True)
class Tagged:
    tag: str
    value: Any


@dataclass(frozen=True)
class Raw:
    """Text written into the file as it is: a plain scalar the two parsers might read differently."""

    text: str


OPTIONS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "veo-3.1": {"aspectRatio": st.sampled_from(["16:9", "9:16"]), "duration": st.sampled_from([4, 6, 8]),
                "resolution": st.sampled_from(["720p", "1080p"]), "generateAudio": st.booleans(),
                "seed": st.integers(0, 2**40), "negativePrompt": st.from_regex(r"[a-z][a-z ,]{0,9}", fullmatch=True)},
    "grok-imagine-1.5": {"duration": st.integers(1, 15), "resolution": st.sampled_from(["480p", "720p"]),
                         "aspectRatio": st.sampled_from(["1:1", "16:9", "4:3", "2:3"])},
    "seedance-2.0": {"ratio": st.sampled_from(["16:9", "adaptive", "21:9"]), "duration": st.integers(4, 15),
                     "returnLastFrame": st.booleans(), "seed": st.integers(0, 99)},
}
ODD_OPTIONS = {"duration": st.sampled_from([0, 3, 16, 8.0, "8", True]), "seed": st.integers(-5, 0),
               "aspectRatio": st.just(Raw("16:9")), "negativePrompt": st.text(max_size=12)}
PROMPTS = st.one_of(st.from_regex(r"[A-Za-z][A-Za-z0-9 .\u00e9\U0001f3ac'-]{0,20}[a-z]", fullmatch=True),
                    st.just("{product} on a shelf"))
TRICKY_TEXT = st.text(alphabet=st.sampled_from(list("ab Z09:-#'\"{}[],&*!|>?%@`~.\\\t\u00e9\u2028\U0001f3ac")),
                      min_size=1, max_size=14)
ODD_PROMPTS = st.one_of(st.text(min_size=1, max_size=20), TRICKY_TEXT, st.builds(Raw, TRICKY_TEXT),
                        st.sampled_from(["yes", "on", "16:9", "2001-12-14", "1e3", "~", Tagged("!!str", "1")]))


@st.composite
def campaigns(draw: st.DrawFn) -> dict[str, Any]:
    """A campaign as Python values, with `Anchored`, `Alias`, `Tagged` and `Raw` markers. Most are valid; an
    odd one (one in three) also draws wrong and unusual values."""
    odd = draw(st.integers(0, 2)) == 0

    def pick(usual: st.SearchStrategy[Any], unusual: st.SearchStrategy[Any]) -> Any:
        return draw(st.one_of(usual, unusual) if odd else usual)

    jobs: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 4))):
        model = draw(st.sampled_from(sorted(OPTIONS)))
        names = draw(st.lists(st.sampled_from(sorted(OPTIONS[model])), max_size=3, unique=True))
        job: dict[str, Any] = {"id": f"job{i}", "model": model, "prompt": pick(PROMPTS, ODD_PROMPTS)}
        options = {name: pick(OPTIONS[model][name], ODD_OPTIONS.get(name, st.nothing())) for name in names}
        if draw(st.booleans()):
            job["id"] = f"job{i}-{{seed}}"
            job["matrix"] = {"seed": draw(st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True))}
            if "seed" in OPTIONS[model]:
                options["seed"] = "{seed}"
        written: dict[str, Any] | Anchored | Alias = options
        if draw(st.integers(0, 5)) == 0:
            if i == 0:
                written = Anchored("o0", options)
            elif isinstance(jobs[0].get("options"), Anchored) and model == jobs[0]["model"]:
                written = Alias("o0")
        if written:
            job["options"] = written
        if draw(st.integers(0, 4)) == 0:
            job["numVideos"] = pick(st.sampled_from([1, 2, 4]), st.sampled_from([True, 1.0, Tagged("!!int", "2")]))
        jobs.append(job)
    doc: dict[str, Any] = {
        "version": pick(st.sampled_from([1, Raw("0x1"), Raw("+1")]), st.sampled_from([1.0, Anchored("v", 1)])),
        "campaign": pick(st.just("gen"), st.sampled_from(["Gen", Tagged("!!str", "gen")])),
    }
    if draw(st.booleans()):
        doc["vars"] = {"product": pick(PROMPTS, st.one_of(ODD_PROMPTS, st.integers(), st.just(Anchored("b", True))))}
    else:
        jobs = [dict(j, prompt="a shelf") if j["prompt"] == "{product} on a shelf" else j for j in jobs]
    if draw(st.integers(0, 5)) == 0:
        doc["defaults"] = pick(st.just({"numVideos": 1}), st.just({"<<": {"numVideos": 1}, "model": "veo-3.1"}))
    doc["jobs"] = jobs
    return doc


#: Text that reads as itself written plain, in block and flow context alike (`16:9` does not, in flow, for libyaml).
_PLAIN = re.compile(r"[A-Za-z\u00e9\U0001f3ac][\w .'-]*")


def _quoted(draw: st.DrawFn, text: str) -> str:
    if draw(st.booleans()):
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text, ensure_ascii=draw(st.booleans()))


def _scalar(draw: st.DrawFn, value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Tagged):
        return f"{value.tag} {_scalar(draw, value.value)}"
    if value is None:
        return draw(st.sampled_from(["~", "null", "Null", ""]))
    if isinstance(value, bool):
        return draw(st.sampled_from(["true", "True", "TRUE"] if value else ["false", "False", "FALSE"]))
    if isinstance(value, int):
        if value >= 0:
            return draw(st.sampled_from([str(value), hex(value), f"0o{value:o}", f"+{value}"]))
        return str(value)
    if isinstance(value, float):
        return draw(st.sampled_from([repr(value), f"{value:e}"]))
    if _PLAIN.fullmatch(value) and draw(st.integers(0, 2)):
        return value
    return _quoted(draw, value)  # odd text written plain is drawn as `Raw`


def _flow(draw: st.DrawFn, value: Any) -> str:
    if isinstance(value, Anchored):
        return f"&{value.name} {_flow(draw, value.value)}"
    if isinstance(value, Alias):
        return f"*{value.name}"
    separator = draw(st.sampled_from([", ", ",", ",\n    "]))
    if isinstance(value, dict):
        return "{" + separator.join(f"{_key(draw, k)}: {_flow(draw, v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + separator.join(_flow(draw, v) for v in value) + "]"
    return _scalar(draw, value)


def _key(draw: st.DrawFn, key: str) -> str:
    return key if key == "<<" or draw(st.integers(0, 5)) else _quoted(draw, key)


def _block(draw: st.DrawFn, value: Any, indent: int) -> str:
    """``value`` as the text after ``key:`` or ``-`` in block context."""
    if isinstance(value, Anchored):
        return f" &{value.name}{_block(draw, value.value, indent)}"
    if isinstance(value, Alias):
        return f" *{value.name}"
    pad = " " * indent
    step = draw(st.sampled_from([2, 4]))
    if isinstance(value, dict) and value and draw(st.integers(0, 3)):
        lines = []
        for k, v in value.items():
            if draw(st.integers(0, 6)) == 0:
                lines.append(f"\n{pad}# a comment: {{not: yaml}}")
            lines.append(f"\n{pad}{_key(draw, k)}:{_block(draw, v, indent + step)}")
        return "".join(lines)
    if isinstance(value, list) and value and draw(st.integers(0, 3)):
        items = []
        for v in value:
            text = _block(draw, v, indent + 2)
            if text.startswith("\n" + pad + "  ") and draw(st.booleans()):
                text = " " + text[len(pad) + 3 :]  # compact: `- key: value` with the next keys below it
            items.append(f"\n{pad}-{text}")
        return "".join(items)
    if isinstance(value, dict | list):
        return " " + _flow(draw, value)
    if isinstance(value, str) and "\n" not in value and value.strip() == value and draw(st.integers(0, 5)) == 0:
        return f" |-\n{pad}{value}" if value else " ''"
    text = _scalar(draw, value)
    return f" {text}" if text else ""


@st.composite
def campaign_texts(draw: st.DrawFn) -> str:
    """A generated campaign written as YAML."""
    text = "".join(
        f"{_key(draw, k)}:{_block(draw, v, draw(st.sampled_from([2, 4])))}\n" for k, v in draw(campaigns()).items()
    )
    head = draw(st.sampled_from(["", "---\n", "%YAML 1.2\n---\n", "# yaml-language-server: $schema=x.json\n"]))
    text = head + text + draw(st.sampled_from(["", "...\n", "# the end\n"]))
    return text.replace("\n", "\r\n") if draw(st.integers(0, 9)) == 0 else text


@pytest.mark.slow  # seconds of CPU by design: out of the fast inner loop (see docs/development.md)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(campaign_texts())
def test_generated_campaigns_load_the_same_either_way(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        quick, slow, fast = both_ways(write(Path(tmp), text))
    event(f"{quick[0]}, {'C parser only' if fast else 'round-trip loader'}")
    assert quick == slow
