"""Helpers for the tests of a pipeline's spend (plan's stages, the question before paying, budgets), on a
folder's ledger and on the shared one: three drafts and their three finals, the graph set on the loaded campaign
as the spec's ``needs:`` would set it, picks recorded as ``review --picks`` records them.

Against the sandbox: grok-imagine-1.5 at duration 3 costs 6 credits per video (docs/sandbox.md), so a draft
(one video) costs 6 and a final (two videos, same price class) 12."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine_helpers import load, posts, run_config

from photogpt_batch.campaign import Campaign, Need
from photogpt_batch.review.picks import record_picks
from photogpt_batch.runner import RunConfig, run_campaign
from photogpt_batch.sandbox import SandboxThread
from photogpt_batch.spend.budget import SpendPreview

DRAFT, FINAL = 6, 12


def spec_file(tmp_path: Path, finals: bool = True) -> Path:
    """Three drafts (one video each) and, with ``finals``, three finals of them (two videos each)."""
    spec = tmp_path / "pipe.yaml"
    final = """  - id: "final-{i}"
    prompt: "take {i}"
    numVideos: 2
    matrix:
      i: [1, 2, 3]
""" if finals else ""
    spec.write_text(f"""version: 1
campaign: pipe
output: {tmp_path / 'out'}
defaults:
  model: grok-imagine-1.5
  options:
    duration: 3
jobs:
  - id: "draft-{{i}}"
    prompt: "take {{i}}"
    matrix:
      i: [1, 2, 3]
{final}""", encoding="utf-8")
    return spec


def pipeline(spec: Path, picked: bool = True) -> Campaign:
    """The campaign of ``spec`` with each final needing its draft (gated on the pick with ``picked``), as the
    spec's ``needs: {job: draft-{i}, picked: true}`` would say."""
    campaign = load(spec)
    campaign.needs = {f"final-{i}": (Need(f"draft-{i}", picked=picked),) for i in (1, 2, 3)}
    return campaign


def pick(campaign: Campaign, tmp_path: Path, *ids: str, ledger_url: str | None = None) -> None:
    """Record ``ids`` as picked in the campaign's ledger (the shared one at ``ledger_url``), as ``review --picks``
    does."""
    path = tmp_path / "picks.json"
    path.write_text(json.dumps({"format": "photogpt-batch-picks", "version": 1, "campaign": campaign.name,
                                "picks": [{"job": i} for i in ids]}))
    record_picks(campaign, path, ledger_url)


def config_for(sandbox: SandboxThread, ledger_url: str | None = None, **engine: Any) -> RunConfig:
    """A run's configuration against ``sandbox``, on the shared ledger at ``ledger_url`` if given."""
    config = run_config(sandbox, **engine)
    config.ledger_url = ledger_url
    return config


def run_drafts(tmp_path: Path, sandbox: SandboxThread, ledger_url: str | None = None) -> None:
    """The drafts, generated and downloaded by an earlier run (a spec that had only them)."""
    assert run_campaign(load(spec_file(tmp_path, finals=False)), config_for(sandbox, ledger_url)).complete


def preview_of(campaign: Campaign, sandbox: SandboxThread, ledger_url: str | None = None,
               **engine: Any) -> SpendPreview:
    """The question before paying that `run` would ask for ``campaign``, answered no: nothing is sent. (A run
    with nothing to count asks nothing and goes on: every case here has something to count.)"""
    shown: list[SpendPreview] = []

    def decline(preview: SpendPreview) -> bool:
        shown.append(preview)
        return False

    config = config_for(sandbox, ledger_url, **engine)
    assert config.engine is not None
    config.engine.confirm = decline
    before = posts(sandbox)
    summary = run_campaign(campaign, config)
    assert summary.declined and posts(sandbox) == before
    assert len(shown) == 1
    return shown[0]
