"""A pipeline's stages and its question before paying on the shared ledger: the picks that gate the finals are
the ones recorded there (``review --picks --ledger``), not in the output folder's ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import fast_sandbox
from pipeline_spend import FINAL, pick, pipeline, preview_of, run_drafts, spec_file

from photogpt_batch.sandbox import SandboxThread
from photogpt_batch.views.plan import make_plan


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


@pytest.mark.slow  # starts PostgreSQL
def test_the_shared_picks_gate_the_stages_and_the_question(tmp_path: Path, sandbox: SandboxThread,
                                                           pg_url: str) -> None:
    run_drafts(tmp_path, sandbox, pg_url)
    campaign = pipeline(spec_file(tmp_path))
    assert [s.describe() for s in make_plan(campaign, pg_url).stages] == [
        "stage 2: up to 3 jobs ≈ 36 credits (after picks)"]
    pick(campaign, tmp_path, "draft-1", "draft-3", ledger_url=pg_url)
    stage = make_plan(campaign, pg_url).stages[0]
    assert (stage.jobs, stage.after_picks) == (3, 1)
    preview = preview_of(campaign, sandbox, pg_url)
    assert (preview.new, preview.after_picks, preview.estimate.credits) == (2, 1, 2 * FINAL)
