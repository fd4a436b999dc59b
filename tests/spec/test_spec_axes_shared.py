"""A matrix's axes are made once and shared by the jobs that have them: a tuple and its pairs per job were a third
of a planned job's memory at 20,000 jobs."""

from __future__ import annotations

import textwrap
from pathlib import Path

from photogpt_batch.spec.load import load_campaign


def test_jobs_share_their_axis_pairs_and_equal_axes(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        campaign: axes
        jobs:
          - id: "j-{n}-{ratio}-{model}"
            prompt: a shot {n}
            matrix:
              n: [1, 2]
              ratio: ["9:16", "16:9"]
              model: [grok-imagine-1.5, veo-3.1-fast]
            options: {aspectRatio: "{ratio}"}
        """), encoding="utf-8")
    jobs = {(dict(job.axes)["n"], dict(job.axes)["ratio"], job.model): job for job in load_campaign(path).jobs}
    assert len(jobs) == 8
    first, same_ratio = jobs["1", "9:16", "grok-imagine-1.5"], jobs["2", "9:16", "grok-imagine-1.5"]
    assert first.axes == (("n", "1"), ("ratio", "9:16"))  # the values as --only spells them; no model axis
    assert first.axes[1] is same_ratio.axes[1]  # one pair for every job with ratio 9:16
    # Jobs differing only in their model have equal axes: one tuple.
    assert first.axes is jobs["1", "9:16", "veo-3.1-fast"].axes
