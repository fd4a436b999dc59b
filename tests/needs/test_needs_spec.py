"""A job's ``needs:``: its shapes, placeholders filled per job, and the graph checked at load with located errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from photogpt_batch.campaign import Need
from photogpt_batch.spec.diagnostics import Diagnostic, SpecError
from photogpt_batch.spec.load import load_campaign

HEAD = """\
version: 1
campaign: needs-test
defaults: {model: veo-3.1-fast}
jobs:
"""


def spec(tmp_path: Path, jobs: str, head: str = HEAD) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(head + textwrap.indent(textwrap.dedent(jobs).lstrip("\n"), "  "), encoding="utf-8")
    return path


def errors(tmp_path: Path, jobs: str, head: str = HEAD) -> list[Diagnostic]:
    with pytest.raises(SpecError) as caught:
        load_campaign(spec(tmp_path, jobs, head), hash_cache=tmp_path)
    return [d for d in caught.value.diagnostics if d.severity == "error"]


def test_every_shape_of_needs_and_placeholders_pair_jobs_one_to_one(tmp_path: Path) -> None:
    campaign = load_campaign(spec(tmp_path, """
        - {id: "draft-{n}", prompt: "cat {n}", matrix: {n: [1, 2]}}
        - {id: "final-{n}", prompt: "cat {n}", matrix: {n: [1, 2]}, needs: {job: "draft-{n}", picked: true}}
        - {id: one, prompt: x, needs: draft-1}
        - {id: two, prompt: x, needs: [draft-1, {job: final-2}, one]}
        """), hash_cache=tmp_path)
    assert campaign.needs == {
        "final-1": (Need("draft-1", picked=True),),
        "final-2": (Need("draft-2", picked=True),),
        "one": (Need("draft-1"),),
        "two": (Need("draft-1"), Need("final-2"), Need("one")),
    }
    # The model never sees it: it is not part of the request, so it does not change a job's identity either.
    final = next(job for job in campaign.jobs if job.id == "final-1")
    draft = next(job for job in campaign.jobs if job.id == "draft-1")
    assert "needs" not in final.body
    assert final.body == draft.body


def test_an_unknown_id_is_located_at_the_needs_value_with_the_closest_id(tmp_path: Path) -> None:
    [found] = errors(tmp_path, """
        - {id: draft-1, prompt: x}
        - {id: final-1, prompt: x, needs: drafft-1}
        """)
    assert (found.line, found.column) == (6, 37)
    assert found.message == "final-1 needs drafft-1, and no job has that id"
    assert found.hint is not None and "draft-1" in found.hint


def test_a_placeholder_that_fills_to_no_job_names_the_job_and_the_id(tmp_path: Path) -> None:
    found = errors(tmp_path, """
        - {id: "draft-{n}", prompt: x, matrix: {n: [1, 2, 3]}}
        - {id: "final-{n}", prompt: x, matrix: {n: [1, 2, 3, 4, 5]}, needs: "draft-{n}"}
        """)
    assert [d.message for d in found] == ["final-4 needs draft-4, and no job has that id",
                                          "final-5 needs draft-5, and no job has that id"]


def test_a_job_needing_itself_and_cycles_named_whole_even_through_placeholders(tmp_path: Path) -> None:
    found = errors(tmp_path, """
        - {id: solo, prompt: x, needs: solo}
        - {id: a, prompt: x, needs: [c]}
        - {id: b, prompt: x, needs: a}
        - {id: c, prompt: x, needs: b}
        - {id: "x-{n}", prompt: x, matrix: {n: [1]}, needs: "y-{n}"}
        - {id: "y-{n}", prompt: x, matrix: {n: [1]}, needs: "x-{n}"}
        """)
    messages = [d.message for d in found]
    assert "solo needs itself" in messages
    assert "needs make a cycle: a → c → b → a" in messages
    assert "needs make a cycle: x-1 → y-1 → x-1" in messages
    assert len(found) == 3
    cycle = next(d for d in found if "a → c" in d.message)
    assert cycle.line == 6  # at a's needs


def test_bad_shapes_and_needs_in_defaults_are_located_errors(tmp_path: Path) -> None:
    head = HEAD.replace("defaults: {model: veo-3.1-fast}", "defaults: {model: veo-3.1-fast, needs: a}")
    found = errors(tmp_path, """
        - {id: a, prompt: x}
        - {id: b, prompt: x, needs: 3}
        - {id: c, prompt: x, needs: {job: a, picked: maybe}}
        - {id: d, prompt: x, needs: []}
        - {id: e, prompt: x, needs: "a-{nope}"}
        """, head)
    messages = [d.message for d in found]
    assert messages[0] == "needs: is per job, not in defaults"
    assert "needs: 3 is not a job id" in messages
    assert "needs.picked: 'maybe' must be true or false" in messages
    assert "needs: must name at least one job" in messages
    assert any(m.startswith("needs: unknown placeholder {nope}") for m in messages)
    assert len(found) == 5


def test_a_cycle_of_needs_and_from_is_reported_with_the_spec_s_other_errors_in_one_pass(tmp_path: Path) -> None:
    found = errors(tmp_path, """\
  - id: "a-{n}"
    matrix: {n: [1, 2]}
    prompt: "a {n}"
    needs: "b-{n}"
  - id: "b-{n}"
    matrix: {n: [1, 2]}
    prompt: "b {n}"
    referenceImages: [{from: "a-{n}", frame: last, role: first_frame}]
  - id: c
    prompt: c
    referenceImages: [{from: shot-9}]
""")
    messages = [d.message for d in found]
    assert any("a-1 → b-1 → a-1" in m for m in messages) and any("a-2 → b-2 → a-2" in m for m in messages)
    assert any("shot-9 is not the id of a job" in m for m in messages)
