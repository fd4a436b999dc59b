"""A rerun with nothing to do reads the ledger as a whole, never job by job: a job done before the run started
is not read again to find that it has nothing to download (20,000 reads at 20,000 jobs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import check_outputs, fast_sandbox, load, posts, run_config, write_campaign

from photogpt_batch.ledger import JobRecord, Ledger
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread


def test_a_rerun_of_a_done_campaign_reads_no_job_on_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_campaign(tmp_path, jobs=4, num_videos=2)
    with SandboxThread(fast_sandbox()) as sandbox:
        assert run_campaign(load(spec), run_config(sandbox)).complete
        sent = posts(sandbox)
        reads: list[int] = []
        record = Ledger.record

        def counted(self: Ledger, row: int) -> JobRecord:
            reads.append(row)
            return record(self, row)

        monkeypatch.setattr(Ledger, "record", counted)
        summary: Any = run_campaign(load(spec), run_config(sandbox))
        assert posts(sandbox) == sent
    assert summary.complete and summary.videos_downloaded == 8
    assert reads == []
    check_outputs(tmp_path / "out", 8)
