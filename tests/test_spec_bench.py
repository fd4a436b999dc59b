"""The spec benchmark keeps working: a small run prints its table (timings are not asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "bench" / "bench_specs.py"


@pytest.mark.slow
def test_bench_runs_at_a_small_size_and_prints_its_table() -> None:
    result = subprocess.run([sys.executable, str(BENCH), "--jobs", "2000"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Spec layer on 2,000 jobs")
    assert "| command | wall s | peak RSS MB | exit | target |" in lines
    rows = [line for line in lines if line.startswith("| `photogpt-batch ")]
    assert [row.split("`")[1] for row in rows] == ["photogpt-batch validate", "photogpt-batch plan --json"]
    assert all(row.split("|")[4].strip() == "0" for row in rows)


def test_bench_campaign_is_a_valid_matrix_of_distinct_jobs(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench_specs
    finally:
        sys.path.remove(str(BENCH.parent))
    from photogpt_batch.validation import load_campaign

    prompts, seeds = bench_specs.shape(400)
    spec = tmp_path / "bench.yaml"
    spec.write_text(bench_specs.campaign_yaml(prompts, seeds))
    campaign = load_campaign(spec)
    assert len(campaign.jobs) == prompts * seeds * len(bench_specs.MODELS) >= 400
    assert len({job.content_hash for job in campaign.jobs}) == len(campaign.jobs)
    assert {job.model for job in campaign.jobs} == set(bench_specs.MODELS)
