"""Expanding a campaign into jobs: defaults, vars, placeholders, ids, matrix and exclude (spec-format.md)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from photogpt_batch.campaign import Campaign
from photogpt_batch.layout import LEDGER_DIR, MANIFEST
from photogpt_batch.spec.diagnostics import Diagnostic, SpecError
from photogpt_batch.spec.document import load_document
from photogpt_batch.spec.expand import expand
from photogpt_batch.spec.ids import MAX_ID_LENGTH
from photogpt_batch.spec.load import load_campaign
from photogpt_batch.spec.templates import TemplateError, parse

HEAD = "version: 1\ncampaign: expand-test\n"


def spec(tmp_path: Path, body: str) -> Path:
    """A campaign file: the version and campaign lines, then ``body`` (dedented) from line 3 on."""
    path = tmp_path / "campaign.yaml"
    path.write_text(HEAD + textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return path


def load(tmp_path: Path, body: str) -> Campaign:
    return load_campaign(spec(tmp_path, body))


def requests(tmp_path: Path, body: str) -> dict[str, dict[str, Any]]:
    """Job id -> request body, in spec order."""
    return {job.id: job.body for job in load(tmp_path, body).jobs}


def diagnostics(tmp_path: Path, body: str) -> list[Diagnostic]:
    with pytest.raises(SpecError) as caught:
        load_campaign(spec(tmp_path, body))
    return caught.value.diagnostics


def errors_at(tmp_path: Path, body: str) -> list[tuple[int, int]]:
    return [(d.line, d.column) for d in diagnostics(tmp_path, body) if d.severity == "error"]


# --- defaults -------------------------------------------------------------------------------------------


def test_defaults_apply_to_every_job(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        defaults: {model: veo-3.1, numVideos: 2}
        jobs:
          - {id: a, prompt: p}
          - {id: b, prompt: q}
    """,
    )
    assert [b["modelID"] for b in bodies.values()] == ["veo-3.1", "veo-3.1"]
    assert [b["numVideos"] for b in bodies.values()] == [2, 2]


def test_job_value_wins_over_default(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        defaults: {model: veo-3.1, numVideos: 2}
        jobs:
          - {id: a, prompt: p, model: grok-imagine-1.5, numVideos: 3}
    """,
    )
    assert bodies["a"]["modelID"] == "grok-imagine-1.5"
    assert bodies["a"]["numVideos"] == 3


def test_default_options_merge_key_by_key_with_the_jobs(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        defaults:
          model: veo-3.1
          options: {resolution: 1080p, duration: 4}
        jobs:
          - {id: a, prompt: p, options: {duration: 6}}
    """,
    )
    assert bodies["a"]["options"] == {"veo": {"resolution": "1080p", "duration": 6}}


def test_job_list_replaces_default_list(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        defaults:
          model: veo-3.1
          referenceImages: [{url: "https://x/a.png", role: first_frame}, {url: "https://x/b.png", role: last_frame}]
        jobs:
          - {id: a, prompt: p, referenceImages: [{url: "https://x/c.png", role: last_frame}]}
    """,
    )
    assert bodies["a"]["referenceImages"] == [{"url": "https://x/c.png", "role": "last_frame"}]


def test_unknown_key_in_defaults_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        defaults: {model: veo-3.1, optons: {duration: 4}}
        jobs: [{id: a, prompt: p}]
    """,
    )
    assert [(d.line, d.column, d.hint) for d in found] == [(3, 28, "did you mean 'options'?")]


# --- vars and placeholders -----------------------------------------------------------------------------


def test_vars_fill_prompts(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        vars: {product: amber serum bottle}
        jobs: [{id: a, model: veo-3.1, prompt: "an {product} on stone"}]
    """,
    )
    assert bodies["a"]["prompt"] == "an amber serum bottle on stone"


def test_vars_fill_ids(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        vars: {size: big}
        jobs: [{id: "hero-{size}", model: veo-3.1, prompt: p}]
    """,
    )
    assert list(bodies) == ["hero-big"]


def test_model_placeholder_is_the_jobs_model_id(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        defaults: {model: veo-3.1-fast}
        jobs: [{id: "clip-{model}", prompt: "made by {model}"}]
    """,
    )
    assert bodies == {"clip-veo-3.1-fast": {"modelID": "veo-3.1-fast", "prompt": "made by veo-3.1-fast"}}


def test_matrix_value_wins_over_var_of_the_same_name(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        vars: {colour: red}
        jobs: [{id: "a-{colour}", model: veo-3.1, prompt: "{colour}", matrix: {colour: [blue]}}]
    """,
    )
    assert bodies == {"a-blue": {"modelID": "veo-3.1", "prompt": "blue"}}


def test_var_named_model_is_an_error(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        vars: {model: veo-3.1}
        jobs: [{id: a, model: veo-3.1, prompt: p}]
    """,
    )
    assert [(d.line, d.column) for d in found] == [(3, 8)]
    assert "{model} is always the job's model id" in found[0].message


def test_whole_string_placeholder_keeps_the_values_type(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        jobs:
          - id: "s{seed}"
            model: veo-3.1
            prompt: p
            matrix: {seed: [1, 2]}
            options: {seed: "{seed}"}
    """,
    )
    assert [b["options"]["veo"]["seed"] for b in bodies.values()] == [1, 2]
    assert all(type(b["options"]["veo"]["seed"]) is int for b in bodies.values())


def test_whole_string_placeholder_can_bring_a_list(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        vars:
          refs: [{url: "https://x/a.png", role: first_frame}]
        jobs: [{id: a, model: veo-3.1, prompt: p, referenceImages: "{refs}"}]
    """,
    )
    assert bodies["a"]["referenceImages"] == [{"url": "https://x/a.png", "role": "first_frame"}]


def test_placeholder_inside_text_is_formatted_the_yaml_way(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        vars: {n: 3, on: true, nothing: null, ratio: "16:9"}
        jobs: [{id: a, model: veo-3.1, prompt: "n={n} on={on} nothing={nothing} ratio={ratio}"}]
    """,
    )
    assert bodies["a"]["prompt"] == "n=3 on=true nothing=null ratio=16:9"


def test_list_formatted_into_text_is_an_error(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        vars: {colours: [red, blue]}
        jobs: [{id: a, model: veo-3.1, prompt: "in {colours}"}]
    """,
    )
    assert [(d.line, d.column) for d in found] == [(4, 40)]
    assert "cannot be formatted into text" in found[0].message


def test_unknown_placeholder_is_an_error_at_its_value_with_a_suggestion(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        vars: {product: serum}
        jobs:
          - id: a
            model: veo-3.1
            prompt: "a {prodct} on stone"
    """,
    )
    assert [(d.line, d.column) for d in found] == [(7, 13)]
    assert "unknown placeholder {prodct}" in found[0].message
    assert "did you mean {product}?" in found[0].message


def test_unknown_placeholder_in_defaults_is_located_in_the_defaults(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        defaults:
          model: veo-3.1
          options: {negativePrompt: "no {thing}"}
        jobs: [{id: a, prompt: p}]
    """,
    )
    assert [(d.line, d.column) for d in found] == [(5, 29)]


def test_unknown_placeholder_is_reported_once_for_a_whole_matrix(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs:
          - {id: "a{n}", model: veo-3.1, prompt: "{nope}", matrix: {n: [1, 2, 3]}}
    """,
    )
    assert len(found) == 1


def test_double_braces_write_literal_braces(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        jobs: [{id: a, model: veo-3.1, prompt: "a {{literal}} brace and }} one"}]
    """,
    )
    assert bodies["a"]["prompt"] == "a {literal} brace and } one"


def test_unmatched_brace_is_an_error(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs: [{id: a, model: veo-3.1, prompt: "a {broken"}]
    """,
    )
    assert [(d.line, d.column) for d in found] == [(3, 40)]
    assert "malformed placeholder" in found[0].message


def test_malformed_placeholder_does_not_hide_the_jobs_other_errors(tmp_path: Path) -> None:
    assert errors_at(
        tmp_path,
        """
        jobs:
          - id: a
            model: veo-3.1
            prompt: "a {broken"
            options: {duration: 5}
    """,
    ) == [(6, 13), (7, 25)]


def test_template_parse_splits_literals_and_names() -> None:
    assert parse("a {x} b {{c}}").parts == ("a ", "x", " b {c}")


def test_template_fill_names_the_known_placeholders() -> None:
    with pytest.raises(TemplateError, match=r"unknown placeholder \{y\} \(known: x\)"):
        parse("{y}").fill({"x": 1})


# --- ids ------------------------------------------------------------------------------------------------


def test_id_values_are_normalised_colon_to_x(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        jobs: [{id: "a-{r}", model: veo-3.1, prompt: p, matrix: {r: ["16:9"]}}]
    """,
    )
    assert list(bodies) == ["a-16x9"]


def test_id_values_are_normalised_other_characters_to_dash(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        vars: {name: "Spring Sale/2025 ü"}
        jobs: [{id: "a-{name}", model: veo-3.1, prompt: p}]
    """,
    )
    assert list(bodies) == ["a-Spring-Sale-2025--"]


def test_id_normalisation_does_not_touch_the_prompt(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        jobs: [{id: "a-{r}", model: veo-3.1, prompt: "ratio {r}", matrix: {r: ["16:9"]}}]
    """,
    )
    assert bodies["a-16x9"]["prompt"] == "ratio 16:9"


def test_raw_id_with_a_slash_is_refused(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs: [{id: a/../b, model: veo-3.1, prompt: p}]
    """,
    )
    assert [(d.line, d.column) for d in found] == [(3, 13)]
    assert "'a/../b' is not a valid id" in found[0].message


def test_raw_id_starting_with_a_dot_is_refused(tmp_path: Path) -> None:
    assert errors_at(
        tmp_path,
        """
        jobs: [{id: .hidden, model: veo-3.1, prompt: p}]
    """,
    ) == [(3, 13)]


def test_id_that_starts_with_a_dot_after_filling_is_refused(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs: [{id: "{name}", model: veo-3.1, prompt: p, matrix: {name: [ok, .env]}}]
    """,
    )
    assert [(d.line, d.column) for d in found] == [(3, 13)]
    assert "expands to '.env'" in found[0].message


def test_id_made_only_of_placeholders_is_valid(tmp_path: Path) -> None:
    assert list(
        requests(
            tmp_path,
            """
        jobs: [{id: "{model}", model: veo-3.1, prompt: p}]
    """,
        )
    ) == ["veo-3.1"]


def test_numeric_id_is_refused_with_the_advice_to_quote_it(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs: [{id: 2025, model: veo-3.1, prompt: p}]
    """,
    )
    assert found[0].hint == 'quote it: id: "2025"'


def test_missing_id_is_an_error_at_the_job(tmp_path: Path) -> None:
    assert errors_at(
        tmp_path,
        """
        jobs:
          - model: veo-3.1
            prompt: p
    """,
    ) == [(4, 5)]


def test_duplicate_id_is_an_error_at_the_second_job(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs:
          - {id: hero, model: veo-3.1, prompt: p}
          - {id: other, model: veo-3.1, prompt: p}
          - {id: hero, model: veo-3.1, prompt: q}
    """,
    )
    assert [(d.line, d.column) for d in found] == [(6, 10)]
    assert "duplicate job id 'hero' (first at line 4)" in found[0].message


def test_duplicate_id_after_expansion_is_an_error_at_the_later_entry(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs:
          - {id: "clip-{r}", model: veo-3.1, prompt: p, matrix: {r: ["16:9", "9:16"]}}
          - {id: clip-16x9, model: veo-3.1, prompt: q}
    """,
    )
    assert [(d.line, d.column) for d in found] == [(5, 10)]


def test_matrix_that_gives_one_id_twice_is_an_error(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs: [{id: "a-{r}", model: veo-3.1, prompt: p, matrix: {r: ["1:1", "1x1"]}}]
    """,
    )
    assert [(d.line, d.column) for d in found] == [(3, 13)]
    assert "another combination of this matrix" in found[0].message


def test_duplicate_job_still_has_its_other_errors_reported(tmp_path: Path) -> None:
    assert errors_at(
        tmp_path,
        """
        jobs:
          - {id: hero, model: veo-3.1, prompt: p}
          - {id: hero, model: veo31, prompt: q}
    """,
    ) == [(5, 10), (5, 23)]


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ("Hero", "on macOS and Windows, which ignore case"),
        ("HERO", "on macOS and Windows, which ignore case"),
        ("hero.", "on Windows, which drops trailing dots"),
        ("hero..", "on Windows, which drops trailing dots"),
        ("Hero.", "on macOS and Windows, which ignore case (and Windows drops trailing dots)"),
    ],
)
def test_ids_that_differ_only_in_case_or_trailing_dots_are_a_duplicate(tmp_path: Path, second: str,
                                                                        why: str) -> None:
    # One output folder on macOS and Windows, so refused on every platform: a spec is valid everywhere or nowhere.
    found = diagnostics(
        tmp_path,
        f"""
        jobs:
          - {{id: hero, model: veo-3.1, prompt: p}}
          - {{id: other, model: veo-3.1, prompt: p}}
          - {{id: "{second}", model: veo-3.1, prompt: q}}
    """,
    )
    assert [(d.line, d.column, d.severity) for d in found] == [(6, 10, "error")]
    assert found[0].message == (f"duplicate job id {second!r}: it names the same output folder as 'hero' "
                                f"(first at line 4) {why}")
    assert found[0].hint is not None and found[0].hint.startswith("rename one of the jobs")


def test_id_that_differs_in_case_after_expansion_is_a_duplicate_at_the_later_entry(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs:
          - {id: clip-a, model: veo-3.1, prompt: p}
          - {id: "clip-{v}", model: veo-3.1, prompt: q, matrix: {v: [b, A, B]}}
    """,
    )
    # 'clip-A' clashes with the earlier entry's 'clip-a', 'clip-B' with this entry's own 'clip-b'.
    assert [(d.line, d.column) for d in found] == [(5, 10), (5, 10)]
    assert "duplicate job id 'clip-A': it names the same output folder as 'clip-a' (first at line 4)" in (
        found[0].message)
    assert ("duplicate job id 'clip-B': it names the same output folder as 'clip-b' (another combination of "
            "this matrix)") in found[1].message


def test_matrix_that_gives_one_folder_twice_is_reported_once_per_folder(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs: [{id: "a-{v}", model: veo-3.1, prompt: p, matrix: {v: [x, X, x., X.]}}]
    """,
    )
    assert [(d.line, d.column) for d in found] == [(3, 13)]
    assert "'a-X': it names the same output folder as 'a-x' (another combination of this matrix)" in (
        found[0].message)


def test_exact_duplicate_keeps_its_message_among_case_variants(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs:
          - {id: hero, model: veo-3.1, prompt: p}
          - {id: Hero, model: veo-3.1, prompt: q}
          - {id: hero, model: veo-3.1, prompt: r}
    """,
    )
    assert [(d.line, d.column) for d in found] == [(5, 10), (6, 10)]
    assert found[1].message == "duplicate job id 'hero' (first at line 4)"
    assert found[1].hint == "ids must be unique after expansion: add a placeholder such as {model} to the id"


def test_ids_that_differ_in_more_than_case_and_trailing_dots_are_valid(tmp_path: Path) -> None:
    assert list(requests(
        tmp_path,
        """
        jobs:
          - {id: hero, model: veo-3.1, prompt: p}
          - {id: hero.2, model: veo-3.1, prompt: p}
          - {id: hero-, model: veo-3.1, prompt: p}
          - {id: hero_, model: veo-3.1, prompt: p}
    """,
    )) == ["hero", "hero.2", "hero-", "hero_"]


@pytest.mark.parametrize("job_id", [MANIFEST, MANIFEST.upper(), "Manifest.Jsonl", f"{MANIFEST}.tmp",
                                    f"{MANIFEST}.TMP", f"{MANIFEST}."])
def test_id_that_names_a_file_the_tool_writes_in_the_output_folder_is_refused(tmp_path: Path,
                                                                            job_id: str) -> None:
    found = diagnostics(
        tmp_path,
        f"""
        jobs: [{{id: "{job_id}", model: veo-3.1, prompt: p}}]
    """,
    )
    assert [(d.line, d.column, d.severity) for d in found] == [(3, 13, "error")]
    assert f"id: {job_id!r} clashes with the tool's own manifest.jsonl" in found[0].message
    assert "ignoring case" in found[0].message
    assert found[0].hint is not None and found[0].hint.startswith("rename the job, e.g. `id: ")


def test_id_that_names_a_file_the_tool_writes_after_filling_is_refused(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs: [{id: "{name}", model: veo-3.1, prompt: p, matrix: {name: [ok, Manifest.jsonl]}}]
    """,
    )
    assert [(d.line, d.column) for d in found] == [(3, 13)]
    assert "'{name}' expands to 'Manifest.jsonl', which clashes with" in found[0].message


def test_id_that_only_contains_the_manifests_name_is_valid(tmp_path: Path) -> None:
    assert list(
        requests(
            tmp_path,
            """
        jobs:
          - {id: manifest, model: veo-3.1, prompt: p}
          - {id: manifest.jsonl-1, model: veo-3.1, prompt: p}
          - {id: my-manifest.jsonl, model: veo-3.1, prompt: p}
    """,
        )
    ) == ["manifest", "manifest.jsonl-1", "my-manifest.jsonl"]


@pytest.mark.parametrize("name", [MANIFEST, f"{MANIFEST}.tmp", LEDGER_DIR])
def test_no_id_can_name_what_the_tool_keeps_at_the_top_of_the_output_folder(tmp_path: Path, name: str) -> None:
    # The ledger's folder is refused by the id pattern (no leading '.'), not by the list of output names:
    # if LEDGER_DIR ever loses its dot, this fails until ids.OUTPUT_NAMES lists it.
    for job_id in (name, name.upper()):
        assert errors_at(
            tmp_path,
            f"""
        jobs: [{{id: "{job_id}", model: veo-3.1, prompt: p}}]
    """,
        ) == [(3, 13)]


def test_id_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    # Each id names a folder `<output>/<id>/`: a 300-character one would be paid for and never saved (255 bytes).
    for length in (MAX_ID_LENGTH + 1, 300):
        found = diagnostics(
            tmp_path,
            f"""
        jobs: [{{id: "{'h' * length}", model: veo-3.1, prompt: p}}]
    """,
        )
        assert [(d.line, d.column, d.severity) for d in found] == [(3, 13, "error")]
        assert f"is {length} characters, more than the {MAX_ID_LENGTH} an id may have" in found[0].message
        assert found[0].hint is not None and found[0].hint.startswith("use a shorter id")
    assert "'hhhh" in found[0].message and "…" in found[0].message  # 300 characters are not all shown
    assert len(found[0].message) < 200


def test_id_of_exactly_the_limit_is_valid(tmp_path: Path) -> None:
    literal = "a" * MAX_ID_LENGTH
    filled = "clip-" + "b" * (MAX_ID_LENGTH - len("clip-"))
    assert list(requests(
        tmp_path,
        f"""
        jobs:
          - {{id: "{literal}", model: veo-3.1, prompt: p}}
          - {{id: "clip-{{v}}", model: veo-3.1, prompt: p, matrix: {{v: ["{filled[5:]}"]}}}}
    """,
    )) == [literal, filled]


def test_id_that_only_some_matrix_values_make_too_long_is_refused_once_at_the_template(tmp_path: Path) -> None:
    # 'clip-' + 123 characters is exactly the limit, + 124 one too many; the long values all differ, as a matrix's
    # ids do, and still give one error, not one per job.
    fits, long = "x" * (MAX_ID_LENGTH - 5), [f"{i:02}" + "y" * (MAX_ID_LENGTH - 6) for i in range(50)]
    found = diagnostics(
        tmp_path,
        f"""
        jobs:
          - id: hero
            model: veo-3.1
            prompt: p
          - id: "clip-{{v}}"
            model: veo-3.1
            prompt: p
            matrix:
              v: [a, {fits}, {", ".join(long)}]
    """,
    )
    assert [(d.line, d.column, d.severity) for d in found] == [(7, 9, "error")]
    assert found[0].message.startswith("id: 'clip-{v}' expands to 'clip-00yyyy")
    assert f"which is {MAX_ID_LENGTH + 1} characters, more than the {MAX_ID_LENGTH}" in found[0].message
    assert "…" in found[0].message and long[0] not in found[0].message  # the expanded id is shortened
    assert found[0].hint is not None and "shorten the text around the placeholders" in found[0].hint


@pytest.mark.slow
def test_spec_loading_does_not_import_the_ledger() -> None:
    code = ("import sys; from photogpt_batch.spec.load import load_campaign; load_campaign(sys.argv[1]); "
            "print(sorted({'asyncio', 'sqlite3', 'photogpt_batch.ledger'} & set(sys.modules)))")
    demo = Path(__file__).parents[2] / "specs" / "demo.yaml"
    done = subprocess.run([sys.executable, "-c", code, str(demo)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- matrix ---------------------------------------------------------------------------------------------


def test_matrix_is_the_cross_product_in_the_order_written(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        jobs:
          - id: "{b}-{a}"
            model: veo-3.1
            prompt: p
            matrix: {b: [x, y], a: [1, 2, 3]}
    """,
    )
    assert list(bodies) == ["x-1", "x-2", "x-3", "y-1", "y-2", "y-3"]


def test_matrix_jobs_keep_their_entrys_place_among_the_other_jobs(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        jobs:
          - {id: first, model: veo-3.1, prompt: p}
          - {id: "m{n}", model: veo-3.1, prompt: p, matrix: {n: [1, 2]}}
          - {id: last, model: veo-3.1, prompt: p}
    """,
    )
    assert list(bodies) == ["first", "m1", "m2", "last"]


def test_model_as_a_matrix_key_sets_each_jobs_model(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        jobs:
          - id: "a-{model}"
            prompt: p
            matrix: {model: [veo-3.1-fast, grok-imagine-1.5]}
    """,
    )
    assert {k: b["modelID"] for k, b in bodies.items()} == {
        "a-veo-3.1-fast": "veo-3.1-fast",
        "a-grok-imagine-1.5": "grok-imagine-1.5",
    }


def test_empty_matrix_list_is_an_error(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs:
          - id: "a{n}"
            model: veo-3.1
            prompt: p
            matrix:
              n: []
    """,
    )
    assert [(d.line, d.column) for d in found] == [(8, 10)]
    assert "matrix.n: must be a non-empty list" in found[0].message


def test_matrix_value_that_is_not_a_list_is_an_error(tmp_path: Path) -> None:
    assert errors_at(
        tmp_path,
        """
        jobs: [{id: "a{n}", model: veo-3.1, prompt: p, matrix: {n: 3}}]
    """,
    ) == [(3, 60)]


def test_matrix_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    assert errors_at(
        tmp_path,
        """
        jobs: [{id: a, model: veo-3.1, prompt: p, matrix: [1, 2]}]
    """,
    ) == [(3, 51)]


def test_exclude_removes_matching_combinations(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        jobs:
          - id: "{m}-{r}"
            model: veo-3.1
            prompt: p
            matrix:
              m: [a, b]
              r: ["16:9", "9:16"]
              exclude:
                - {m: a, r: "9:16"}
                - {m: b, r: "16:9"}
    """,
    )
    assert list(bodies) == ["a-16x9", "b-9x16"]


def test_exclude_with_a_partial_combination_removes_all_it_matches(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        jobs:
          - id: "{m}-{r}"
            model: veo-3.1
            prompt: p
            matrix: {m: [a, b], r: [1, 2], exclude: [{m: a}]}
    """,
    )
    assert list(bodies) == ["b-1", "b-2"]


def test_exclude_tells_true_from_1(tmp_path: Path) -> None:
    bodies = requests(
        tmp_path,
        """
        jobs:
          - {id: "a-{v}", model: veo-3.1, prompt: p, matrix: {v: [1, true], exclude: [{v: true}]}}
    """,
    )
    assert list(bodies) == ["a-1"]


def test_exclude_with_an_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs:
          - id: "{ratio}"
            model: veo-3.1
            prompt: p
            matrix:
              ratio: ["16:9"]
              exclude: [{ratoi: "16:9"}]
    """,
    )
    assert [(d.line, d.column) for d in found] == [(9, 18)]
    assert found[0].hint == "did you mean 'ratio'?"


def test_exclude_that_is_not_a_list_is_an_error(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs:
          - id: "{r}"
            model: veo-3.1
            prompt: p
            matrix:
              r: [a, b]
              exclude: {r: a}
    """,
    )
    assert [(d.line, d.column) for d in found] == [(9, 16)]
    assert "must be a list" in found[0].message


def test_exclude_that_matches_nothing_is_a_warning(tmp_path: Path) -> None:
    campaign = load(
        tmp_path,
        """
        jobs:
          - id: "{r}"
            model: veo-3.1
            prompt: p
            matrix:
              r: [a, b]
              exclude:
                - {r: c}
    """,
    )
    assert [job.id for job in campaign.jobs] == ["a", "b"]
    assert [(d.line, d.column, d.severity) for d in campaign.diagnostics] == [(10, 11, "warning")]
    assert "matches no combination" in campaign.diagnostics[0].message


def test_exclude_that_removes_every_combination_is_an_error(tmp_path: Path) -> None:
    found = diagnostics(
        tmp_path,
        """
        jobs:
          - id: "{r}"
            model: veo-3.1
            prompt: p
            matrix: {r: [a], exclude: [{r: a}]}
    """,
    )
    assert [(d.line, d.column) for d in found] == [(7, 31)]
    assert "leaves no combination" in found[0].message


# --- the expansion API ----------------------------------------------------------------------------------


def test_expand_reports_without_raising(tmp_path: Path) -> None:
    path = spec(
        tmp_path,
        """
        colour: red
        jobs: [{id: a/b, prompt: p}]
    """,
    )
    expansion = expand(load_document(path), str(path))
    assert expansion.jobs == []
    assert [(d.line, d.column) for d in expansion.diagnostics] == [(3, 1), (4, 13)]


def test_expanded_jobs_are_plain_python_values(tmp_path: Path) -> None:
    path = spec(
        tmp_path,
        """
        jobs: [{id: a, model: veo-3.1, prompt: p, options: {duration: 0x8, aspectRatio: 16:9}}]
    """,
    )
    job = next(iter(expand(load_document(path), str(path)).jobs))
    assert job.data == {"id": "a", "model": "veo-3.1", "prompt": "p", "options": {"duration": 8, "aspectRatio": "16:9"}}
    assert type(job.data["options"]["duration"]) is int
    assert type(job.data["prompt"]) is str


def test_version_other_than_1_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text("version: 1.0\ncampaign: x\njobs: [{id: a, model: veo-3.1, prompt: p}]\n")
    with pytest.raises(SpecError) as caught:
        load_campaign(path)
    assert [(d.line, d.column) for d in caught.value.diagnostics] == [(1, 10)]


def test_missing_required_top_level_keys_are_each_reported(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text("output: out/x\n")
    with pytest.raises(SpecError) as caught:
        load_campaign(path)
    messages = sorted(d.message for d in caught.value.diagnostics)
    assert messages == [
        "missing required key 'campaign'",
        "missing required key 'jobs'",
        "missing required key 'version'",
    ]


# ---- explicit job lists validate each distinct shape once ------------------------------------------------


def test_explicit_jobs_that_differ_only_in_id_and_prompt_are_validated_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from photogpt_batch.spec import validation

    checked: list[dict[str, Any]] = []
    real = validation.JobValidator._check_shape

    def counting(self: Any, job: dict[str, Any], model: Any) -> Any:
        checked.append(job)
        return real(self, job, model)

    monkeypatch.setattr(validation.JobValidator, "_check_shape", counting)
    entries = "".join(f"  - {{id: clip-{i}, prompt: 'clip number {i}'}}\n" for i in range(50))
    bodies = requests(tmp_path, "defaults: {model: veo-3.1, options: {duration: 8}}\njobs:\n" + entries
                      + "  - {id: other, prompt: 'x', options: {duration: 4}}\n"
                      + "  - {id: other-true, prompt: 'x', options: {generateAudio: true}}\n"
                      + "  - {id: other-false, prompt: 'x', options: {generateAudio: false}}\n")

    assert len(checked) == 1 + 3  # one for the 50 alike, one per entry of another shape
    assert bodies["clip-7"]["prompt"] == "clip number 7"
    assert bodies["clip-7"]["options"]["veo"]["duration"] == 8 and bodies["other"]["options"]["veo"]["duration"] == 4


def test_a_problem_shared_by_explicit_jobs_is_reported_at_each_entry(tmp_path: Path) -> None:
    found = diagnostics(tmp_path, """
        defaults: {model: veo-3.1}
        jobs:
          - {id: a, prompt: one, options: {duration: 7}}
          - {id: b, prompt: two, options: {duration: 7}}
          - {id: c, prompt: three, options: {generateAudio: true}}
          - {id: d, prompt: four, options: {generateAudio: 1}}
    """)

    # 1 is not true: the entry after a valid one of the same look is still checked on its own.
    assert [(d.line, d.message.split(":")[0]) for d in found] == [
        (5, "options.duration"), (6, "options.duration"), (8, "options.generateAudio")]
