"""``rows:`` across runs: a row whose content changes makes its job ``changed`` in ``plan``, with the diff; a row
removed from the file is no longer in the spec, as a removed job is (its paid videos are kept)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import fast_sandbox, load, run_config

from photogpt_batch.cli import cli
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread


@pytest.fixture
def sandbox():
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


def test_a_changed_row_is_changed_and_a_removed_row_orphaned(tmp_path: Path, sandbox: SandboxThread) -> None:
    rows = tmp_path / "products.csv"
    rows.write_text("sku,name\nA17,amber bottle\nB02,tea tin\nC33,candle jar\n")
    spec = tmp_path / "c.yaml"
    spec.write_text(f"""version: 1
campaign: c
output: {tmp_path / 'out'}
jobs:
  - id: "{{sku}}"
    rows: products.csv
    model: grok-imagine-1.5
    prompt: "{{name}} on wet stone"
    options: {{duration: 3}}
""")
    assert run_campaign(load(spec), run_config(sandbox)).complete
    rows.write_text("sku,name\nA17,amber bottle\nB02,brushed tea tin\n")

    data = json.loads(CliRunner().invoke(cli, ["plan", "--json", str(spec)]).stdout)
    by_id = {job["id"]: job for job in data["jobs"]}
    assert by_id["A17"]["state"] == "done" and "C33" not in by_id
    assert by_id["B02"]["state"] == "changed"
    assert by_id["B02"]["diff"] == [{"path": "prompt", "old": "tea tin on wet stone",
                                     "new": "brushed tea tin on wet stone"}]
    assert "C33" in json.dumps(data["orphaned"])
    assert (tmp_path / "out" / "C33" / "1.mp4").exists()
