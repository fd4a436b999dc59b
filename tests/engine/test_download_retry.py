"""The download stage pauses between its attempts through `RetryPolicy`, not a backoff of its own.

The sandbox (a real aiohttp server on 127.0.0.1) refuses the first preparations and cuts the first file
transfers; the stage's two policies are swapped for recording ones that wait nothing, so the test sees every
pause the stage asked for, and which attempt asked, without waiting for real time.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from engine_helpers import check_outputs, fast_sandbox, load, run_config, write_campaign

from photogpt_batch.net.retry import RetryPolicy
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import Faults, SandboxThread

# Imported by name: ``photogpt_batch.engine`` exports lazily, so its attribute ``download`` is not this module.
download_stage = importlib.import_module("photogpt_batch.engine.download")


@dataclass(frozen=True)
class RecordingPolicy(RetryPolicy):
    """A `RetryPolicy` that records the retry index of every pause asked of it and draws zero-length ones."""

    asked: list[int] = field(default_factory=list, compare=False)

    def delay(self, retry_index: int, retry_after: float | None = None) -> float:
        self.asked.append(retry_index)
        return super().delay(retry_index, retry_after)


def _recording() -> RecordingPolicy:
    return RecordingPolicy(random=lambda: 0.0)


def test_downloads_pause_through_their_retry_policies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resume, prepare = _recording(), _recording()
    monkeypatch.setattr(download_stage, "RESUME_RETRY", resume)
    monkeypatch.setattr(download_stage, "PREPARE_RETRY", prepare)
    # The first 5 create-download requests are refused with 429 (Retry-After: 0): the client's own 5 tries
    # give up at once, and the stage gets an API error on its first attempt. Then the first two transfers of
    # the file are cut short: the stage resumes the .part on its next two attempts.
    faults = Faults(rate_limit_nth=(1, 2, 3, 4, 5), rate_limit_routes=("GET /videos/{id}/create-download",),
                    retry_after_seconds=0, truncate_nth=(1, 2))
    with SandboxThread(fast_sandbox(faults=faults, video_bytes=300_000)) as sandbox:
        summary = run_campaign(load(write_campaign(tmp_path, jobs=1)), run_config(sandbox))
    assert summary.complete
    assert sandbox.counters.faults["rate_limit"] == 5
    assert sandbox.counters.faults["truncate"] == 2
    check_outputs(tmp_path / "out", 1)
    # Attempt 0 was refused by the API, attempts 1 and 2 were cut: each pause came from its policy, asked
    # with the attempt's number (the backoff grows with it).
    assert prepare.asked == [0]
    assert resume.asked == [1, 2]
