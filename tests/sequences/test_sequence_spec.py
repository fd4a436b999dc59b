"""The spec's ``sequences:``: names mapped to ordered lists of job ids, checked with located errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from photogpt_batch import layout
from photogpt_batch.spec.diagnostics import Diagnostic, SpecError
from photogpt_batch.spec.load import load_campaign

JOBS = """\
version: 1
campaign: seq-test
defaults: {model: veo-3.1-fast}
jobs:
  - {id: shot-1, prompt: one}
  - {id: shot-2, prompt: two}
  - {id: "take-{n}", prompt: take, matrix: {n: [1, 2]}}
"""


def spec(tmp_path: Path, sequences: str) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(JOBS + textwrap.dedent(sequences).lstrip("\n"), encoding="utf-8")
    return path


def errors(tmp_path: Path, sequences: str) -> list[Diagnostic]:
    with pytest.raises(SpecError) as caught:
        load_campaign(spec(tmp_path, sequences), hash_cache=tmp_path)
    return [d for d in caught.value.diagnostics if d.severity == "error"]


def test_sequences_name_ordered_job_ids_and_a_job_may_be_in_several(tmp_path: Path) -> None:
    campaign = load_campaign(spec(tmp_path, """
        sequences:
          story: [shot-2, shot-1, take-2]
          alt.cut_1: [shot-1]
        """), hash_cache=tmp_path)
    assert campaign.sequences == {"story": ("shot-2", "shot-1", "take-2"), "alt.cut_1": ("shot-1",)}


def test_a_typo_in_a_job_id_is_located_with_the_closest_id(tmp_path: Path) -> None:
    found, other = errors(tmp_path, """
        sequences:
          story: [shot-1, shot_2, take-9x]
        """)
    # JOBS is 7 lines: `sequences:` is line 8, the list line 9
    assert (other.line, other.column) == (9, 27) and "'take-9x'" in other.message
    assert (found.line, found.column) == (9, 19)
    assert "sequences.story[1]" in found.message and "'shot_2' is not the id of a job" in found.message
    assert found.hint == "did you mean 'shot-2'?"
    assert len(errors(tmp_path, "sequences:\n  story: [take-9x]\n")) == 1


def test_names_must_be_slugs_and_values_non_empty_lists_of_ids(tmp_path: Path) -> None:
    found = errors(tmp_path, """
        sequences:
          My Story: [shot-1]
          empty: []
          one: shot-1
          numbers: [1]
        """)
    assert [(d.line, d.column) for d in found] == [(9, 3), (10, 10), (11, 8), (12, 13)]
    assert "'My Story' is not a slug" in found[0].message
    assert "sequences.empty: must be a non-empty list of job ids" in found[1].message
    assert "sequences.one: must be a non-empty list" in found[2].message
    assert "1 is not a job id" in found[3].message
    [top] = errors(tmp_path, "sequences: [shot-1]\n")
    assert (top.line, top.column) == (8, 12) and "must be a mapping of names to lists of job ids" in top.message


def test_a_sequence_naming_a_job_with_errors_is_not_also_reported_as_a_typo(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(JOBS.replace("prompt: two", "prompt: two, options: {duration: -3}")
                    + "sequences:\n  story: [shot-1, shot-2]\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_campaign(path, hash_cache=tmp_path)
    assert not any("sequences" in d.message for d in caught.value.diagnostics)


def test_sequences_is_a_reserved_top_level_name_no_job_id_may_take(tmp_path: Path) -> None:
    assert layout.SEQUENCES_DIR in layout.TOP_LEVEL_NAMES
    assert layout.sequence_path("story") == "sequences/story.mp4"
    path = tmp_path / "campaign.yaml"
    path.write_text(JOBS.replace("id: shot-1", "id: Sequences"), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_campaign(path, hash_cache=tmp_path)
    assert any(d.severity == "error" and "Sequences" in d.message for d in caught.value.diagnostics)
