"""Lineage in the review page's data: what each job comes from and leads to, the pick a final waits for, chains
kept together in chain order, and a tile per sequence (built or waiting).

Until the spec has ``needs:``, the campaigns get their needs the way the loader will give them: set on a loaded
`Campaign` (see `Need`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import fast_sandbox, load, run_config
from review_helpers import pipeline_spec, with_needs

from photogpt_batch.campaign import Need
from photogpt_batch.ledger import Ledger
from photogpt_batch.review import review_page_data
from photogpt_batch.review.lineage import chains
from photogpt_batch.review.picks import PICKS_KEY
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread


def by_id(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["id"]: job for job in data["jobs"]}


def record(ledger: Ledger, *picked: str) -> None:
    ledger.set_meta(PICKS_KEY, json.dumps({"recordedAt": "2026-01-01T00:00:00Z",
                                           "jobs": [{"job": job, "pickedAt": None} for job in picked]}))


def test_a_final_names_its_draft_and_the_pick_it_waits_for_and_the_draft_names_its_final(tmp_path: Path) -> None:
    campaign = with_needs(load(pipeline_spec(tmp_path)))
    with Ledger.open_for_run(campaign.output, campaign=campaign.name) as ledger:  # a real one, on disk
        record(ledger, "draft-1")
        jobs = by_id(review_page_data(campaign, ledger))
    final3 = jobs["final-3"]["needs"]
    assert final3 == [{"job": "draft-3", "picked": True, "via": "needs", "label": "from draft-3", "onPage": True,
                       "pickRecorded": False, "gate": "waiting for draft-3 to be picked"}]
    assert jobs["final-3"]["sent"] is False
    # draft-1 is picked: its final waits for nothing more than its turn.
    assert jobs["final-1"]["needs"][0]["pickRecorded"] is True and jobs["final-1"]["needs"][0]["gate"] is None
    assert jobs["draft-3"]["followers"] == [{"job": "final-3", "label": "final: final-3", "onPage": True}]
    assert jobs["draft-3"]["needs"] == [] and jobs["draft-3"]["chain"] is None  # a pick is not a chain's step
    assert [n["label"] for n in jobs["shot-2"]["needs"]] == ["after shot-1"]
    assert [n["label"] for n in jobs["shot-3"]["needs"]] == ["from shot-2"]
    assert jobs["shot-1"]["followers"] == [{"job": "shot-2", "label": "next: shot-2", "onPage": True}]


def test_a_chain_shows_its_order_and_its_tiles_sit_together_in_chain_order(tmp_path: Path) -> None:
    campaign = with_needs(load(pipeline_spec(tmp_path)))
    with Ledger.in_memory() as ledger:
        data = review_page_data(campaign, ledger)
    # shot-3 came first in the spec: the chain takes shot-1's place, in chain order; the rest keep theirs.
    assert [job["id"] for job in data["jobs"]] == [
        "draft-1", "draft-2", "draft-3", "final-1", "final-2", "final-3", "shot-1", "shot-2", "shot-3"]
    shot2 = by_id(data)["shot-2"]["chain"]
    assert shot2 == {"first": "shot-1", "position": 2, "length": 3, "jobs": ["shot-1", "shot-2", "shot-3"],
                     "label": "shot 2 of 3"}
    assert by_id(data)["final-2"]["chain"] is None
    # Without needs the page keeps the spec's order and carries no lineage fields (a page as small as before).
    campaign.needs = {}
    with Ledger.in_memory() as ledger:
        plain = review_page_data(campaign, ledger)
    assert [job["id"] for job in plain["jobs"]][:2] == ["shot-3", "draft-1"]
    assert not any({"needs", "followers", "chain", "sent"} & set(job) for job in plain["jobs"])


def test_chains_end_where_the_graph_branches_or_joins() -> None:
    needs = {"b": (Need("a"),), "c": (Need("b"),), "d": (Need("c"),), "e": (Need("c"),),  # c branches: a-b-c
             "y": (Need("x"), Need("w")),  # y needs two: no link
             "f": (Need("g", picked=True),)}  # a pick: no link
    assert chains(needs, ["a", "b", "c", "d", "e", "w", "x", "y", "f", "g"]) == [["a", "b", "c"]]


def test_a_sequence_that_waits_says_for_what(tmp_path: Path) -> None:
    campaign = with_needs(load(pipeline_spec(tmp_path)))
    with Ledger.in_memory() as ledger:
        data = review_page_data(campaign, ledger)
    assert data["sequences"] == [{"name": "story", "jobs": ["shot-1", "shot-2", "shot-3"], "standing": "waiting",
                                  "src": None, "waiting": ["shot-1", "shot-2", "shot-3"],
                                  "label": "waiting for shot-1, shot-2, shot-3"}]


@pytest.fixture
def sandbox():
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


def test_after_a_run_the_sequence_has_its_file_and_a_sent_final_waits_for_no_pick(tmp_path: Path,
                                                                                   sandbox: SandboxThread) -> None:
    spec = pipeline_spec(tmp_path)
    ran = load(spec)
    ran.jobs = [job for job in ran.jobs if job.id != "final-3"]  # final-3 is not sent: its draft is not picked
    assert run_campaign(ran, run_config(sandbox), install_signal_handlers=False).complete
    campaign = with_needs(load(spec))
    with Ledger.open_for_reading(campaign.output, campaign=campaign.name) as ledger:
        data = review_page_data(campaign, ledger)
    assert data["sequences"][0]["standing"] == "built" and data["sequences"][0]["src"] == "sequences/story.mp4"
    assert (campaign.output / "sequences" / "story.mp4").is_file()
    jobs = by_id(data)
    # final-1 was sent (no picks were recorded): nothing to wait for now; final-3 was not.
    assert jobs["final-1"]["sent"] is True and jobs["final-1"]["needs"][0]["gate"] is None
    assert jobs["final-3"]["needs"][0]["gate"] == "waiting for draft-3 to be picked"
