"""Loading a campaign file: everything that can go wrong before the document is a mapping of keys.

Each broken file gives one located diagnostic (file:line:column, 1-based) from the library, and through the
CLI exit code 2 with that line printed and no traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from photogpt_batch.cli import cli
from photogpt_batch.spec import source as spec_source
from photogpt_batch.spec.diagnostics import Diagnostic, SpecError
from photogpt_batch.spec.document import load_document
from photogpt_batch.spec.load import load_campaign

VALID = b"""version: 1
campaign: load-test
jobs:
  - id: hero
    model: veo-3.1
    prompt: a bottle on wet stone
    options: {aspectRatio: 16:9}
"""


def load_error(path: Path) -> Diagnostic:
    """The single diagnostic loading ``path`` raises."""
    with pytest.raises(SpecError) as caught:
        load_campaign(path)
    assert len(caught.value.diagnostics) == 1, caught.value.diagnostics
    return caught.value.diagnostics[0]


def assert_refused(path: Path, line: int, column: int, text: str) -> Diagnostic:
    """``path`` is refused with one error at line:column whose message or hint contains ``text``; the CLI
    prints that line and exits 2 without a traceback."""
    diagnostic = load_error(path)
    assert (diagnostic.line, diagnostic.column, diagnostic.severity) == (line, column, "error"), diagnostic
    assert text in diagnostic.format()
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"{path}:{line}:{column}: error: " in result.output
    return diagnostic


def write(tmp_path: Path, data: bytes, name: str = "campaign.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_valid_file_loads(tmp_path: Path) -> None:
    campaign = load_campaign(write(tmp_path, VALID))
    assert [job.id for job in campaign.jobs] == ["hero"]


def test_unquoted_ratio_stays_text_in_yaml_1_2(tmp_path: Path) -> None:
    campaign = load_campaign(write(tmp_path, VALID))
    assert campaign.jobs[0].body["options"]["veo"]["aspectRatio"] == "16:9"


def test_an_explicit_yaml_1_2_directive_is_accepted(tmp_path: Path) -> None:
    campaign = load_campaign(write(tmp_path, b"%YAML 1.2\n---\n" + VALID))
    assert campaign.jobs[0].body["options"]["veo"]["aspectRatio"] == "16:9"


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    assert load_campaign(write(tmp_path, b"\xef\xbb\xbf" + VALID)).name == "load-test"


def test_syntax_error_is_located_where_the_parser_stopped(tmp_path: Path) -> None:
    path = write(tmp_path, b"version: 1\ncampaign: x\njobs:\n  - id: a\n    prompt: [unclosed, list\n  - id: b\n")
    diagnostic = load_error(path)
    assert diagnostic.message.startswith("invalid YAML: ")
    assert_refused(path, diagnostic.line, diagnostic.column, "invalid YAML")
    assert diagnostic.line >= 5


def test_bad_indentation_is_a_located_syntax_error(tmp_path: Path) -> None:
    assert_refused(write(tmp_path, b"version: 1\ncampaign: x\n  jobs: []\n"), 3, 7, "invalid YAML")


def test_duplicate_key_is_located_at_its_second_occurrence(tmp_path: Path) -> None:
    path = write(tmp_path, b"version: 1\ncampaign: a\njobs:\n  - id: x\n    prompt: p\n    prompt: q\n")
    diagnostic = assert_refused(path, 6, 5, "duplicate key")
    assert "'prompt' appears twice" in diagnostic.message


def test_yaml_1_1_directive_is_refused_with_the_advice_to_quote_ratios(tmp_path: Path) -> None:
    path = write(tmp_path, b"%YAML 1.1\n---\n" + VALID)  # 1.1 would read 16:9 as the integer 969
    diagnostic = assert_refused(path, 1, 1, "%YAML 1.1")
    assert "quote ratios" in (diagnostic.hint or "")
    assert "969" in (diagnostic.hint or "")


def test_yaml_directive_for_an_unknown_version_is_refused(tmp_path: Path) -> None:
    assert_refused(write(tmp_path, b"%YAML 2.0\n---\n" + VALID), 1, 1, "%YAML 2.0")


def test_empty_file_is_refused(tmp_path: Path) -> None:
    assert_refused(write(tmp_path, b""), 1, 1, "the file is empty")


def test_whitespace_only_file_is_refused_as_empty(tmp_path: Path) -> None:
    assert_refused(write(tmp_path, b"  \n\n\t\n   \n"), 1, 1, "the file is empty")


def test_comment_only_file_is_refused_as_empty(tmp_path: Path) -> None:
    assert_refused(write(tmp_path, b"# nothing here yet\n---\n"), 1, 1, "the file is empty")


def test_binary_file_is_refused(tmp_path: Path) -> None:
    assert_refused(write(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), 1, 1, "binary file")


def test_an_endless_file_is_refused_after_a_bounded_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec_source, "MAX_SPEC_BYTES", 1 << 16)
    path = write(tmp_path, b"version: 1\ncampaign: x\njobs:\n" + b"  # padding\n" * 10_000)
    assert_refused(path, 1, 1, "larger than")
    assert_refused(Path("/dev/zero"), 1, 1, "binary file")  # read in bounded blocks, not until memory runs out


def test_non_utf8_file_is_refused_at_the_line_of_the_first_bad_byte(tmp_path: Path) -> None:
    path = write(tmp_path, b"version: 1\ncampaign: x\njobs:\n  - id: caf\xe9\n")  # latin-1 é
    assert_refused(path, 4, 1, "not UTF-8")


def test_list_at_top_level_is_refused(tmp_path: Path) -> None:
    assert_refused(write(tmp_path, b"- id: a\n  prompt: p\n"), 1, 1, "holds a list")


def test_scalar_at_top_level_is_refused(tmp_path: Path) -> None:
    assert_refused(write(tmp_path, b"just some text\n"), 1, 1, "a campaign is a mapping")


def test_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "specs.yaml"
    folder.mkdir()
    assert_refused(folder, 1, 1, "is a directory")


def test_missing_file_is_refused(tmp_path: Path) -> None:
    assert_refused(tmp_path / "nowhere.yaml", 1, 1, "cannot read the file")


def test_second_document_in_the_file_is_refused(tmp_path: Path) -> None:
    assert_refused(write(tmp_path, VALID + b"---\nversion: 1\n"), 8, 1, "single document")


def test_custom_tag_is_refused_at_its_value(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace(b"a bottle on wet stone", b"!shout a bottle"))
    assert_refused(path, 6, 13, "the YAML tag !shout is not supported")


def test_binary_value_is_refused_at_its_value(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace(b"a bottle on wet stone", b"!!binary aGVsbG8="))
    assert_refused(path, 6, 13, "binary values")


def test_str_tag_is_accepted_as_text(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace(b"a bottle on wet stone", b"!!str 2024"))
    assert load_campaign(path).jobs[0].body["prompt"] == "2024"


def test_set_is_refused_with_the_advice_to_write_a_list(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + b"    elementIDs: !!set {el_1, el_2}\n")
    diagnostic = assert_refused(path, 8, 17, "sets (!!set)")
    assert diagnostic.hint == "write a list: [a, b]"


def test_aliases_that_expand_into_a_huge_document_are_refused(tmp_path: Path) -> None:
    lines = [b"version: 1", b"campaign: x", b"vars:", b"  l0: &l0 [a, a, a, a, a, a, a, a, a, a]"]
    lines += [b"  l%d: &l%d [" % (i, i) + b", ".join([b"*l%d" % (i - 1)] * 10) + b"]" for i in range(1, 9)]
    lines += [b"jobs:", b"  - {id: x, model: veo-3.1, prompt: p}"]
    assert_refused(write(tmp_path, b"\n".join(lines) + b"\n"), 1, 1, "aliases")


def test_aliases_used_modestly_are_accepted(tmp_path: Path) -> None:
    text = b"""version: 1
campaign: x
jobs:
  - {id: a, model: veo-3.1, prompt: p, options: &opts {duration: 6, resolution: 1080p}}
  - {id: b, model: veo-3.1, prompt: q, options: *opts}
"""
    campaign = load_campaign(write(tmp_path, text))
    assert [job.body["options"]["veo"]["duration"] for job in campaign.jobs] == [6, 6]


def test_nesting_too_deep_for_the_parser_is_refused(tmp_path: Path) -> None:
    text = b"version: 1\ncampaign: x\njobs: " + b"[" * 300 + b"]" * 300 + b"\n"
    assert_refused(write(tmp_path, text), 1, 1, "nested too deeply")


def test_load_document_keeps_positions(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, VALID))
    assert doc["jobs"][0].lc.key("prompt") == (5, 4)  # 0-based in ruamel; diagnostics add 1


def test_empty_value_is_located_at_its_key_not_at_the_next_line(tmp_path: Path) -> None:
    text = b"version: 1\ncampaign: x\njobs:\n  - id: a\n    model: veo-3.1\n    prompt:\n  - id: b\n"
    with pytest.raises(SpecError) as caught:
        load_campaign(write(tmp_path, text))
    prompt = [d for d in caught.value.diagnostics if d.message.startswith("prompt:")]
    assert [(d.line, d.column) for d in prompt] == [(6, 5)]
    assert "got null" in prompt[0].message


def test_unpaired_surrogate_escape_is_refused_at_its_value(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace(b"a bottle on wet stone", b'"a \\ud800 bottle"'))
    assert_refused(path, 6, 13, "unpaired surrogate")


def test_very_long_flat_list_is_not_mistaken_for_an_alias_bomb(tmp_path: Path) -> None:
    seeds = b", ".join(b"%d" % i for i in range(2000))
    text = VALID + b"    options: {seed: \"{seed}\"}\n    matrix: {seed: [" + seeds + b"]}\n"
    text = text.replace(b"    options: {aspectRatio: 16:9}\n", b"").replace(b"id: hero", b'id: "hero-{seed}"')
    assert len(load_campaign(write(tmp_path, text)).jobs) == 2000


def test_an_internal_failure_of_the_yaml_reader_is_reported_not_raised(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # ruamel's round-trip reader raises such errors on some odd files (e.g. "overlap in comment").
    from ruamel.yaml import YAML

    def broken(self: YAML, text: str) -> None:
        raise NotImplementedError("overlap in comment")

    monkeypatch.setattr(YAML, "load", broken)
    path = write(tmp_path, b"version: 1\ncampaign: c\njobs: []\n")

    diagnostic = assert_refused(path, 1, 1, "overlap in comment")
    assert diagnostic.message.startswith("invalid YAML")
