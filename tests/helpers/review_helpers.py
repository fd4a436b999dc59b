"""What the review page's tests share: the headless Chromium they drive (Debian's, through Playwright), and a
pipeline campaign (drafts to finals, a chain of shots, a sequence) whose needs are set as the loader sets them."""

from __future__ import annotations

import shutil
from pathlib import Path

from photogpt_batch.campaign import Campaign, Need

#: The system's Chromium (no browser download), or None: the browser tests are skipped.
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")) if p
                 and Path(p).exists()), None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
#: How long a browser test waits for a condition.
DEADLINE_MS = 10_000


def pipeline_spec(tmp_path: Path) -> Path:
    """Drafts and their finals (matrix n), and three shots given out of order, with a sequence of the shots."""
    spec = tmp_path / "pipe.yaml"
    spec.write_text(f"""version: 1
campaign: pipe
output: {tmp_path / 'out'}
jobs:
  - id: shot-3
    model: grok-imagine-1.5
    prompt: the third shot
    options: {{duration: 2}}
  - id: "draft-{{n}}"
    model: grok-imagine-1.5
    prompt: "draft {{n}}"
    matrix: {{n: [1, 2, 3]}}
    options: {{duration: 2}}
  - id: "final-{{n}}"
    model: grok-imagine-1.5
    prompt: "final {{n}}"
    matrix: {{n: [1, 2, 3]}}
    options: {{duration: 2}}
  - id: shot-1
    model: grok-imagine-1.5
    prompt: the first shot
    options: {{duration: 2}}
  - id: shot-2
    model: grok-imagine-1.5
    prompt: the second shot
    options: {{duration: 2}}
sequences:
  story: [shot-1, shot-2, shot-3]
""", encoding="utf-8")
    return spec


def with_needs(campaign: Campaign) -> Campaign:
    """The pipeline's needs: each final from its picked draft; shot-2 after shot-1, shot-3 from shot-2's output."""
    campaign.needs = {**{f"final-{n}": (Need(f"draft-{n}", picked=True),) for n in (1, 2, 3)},
                      "shot-2": (Need("shot-1"),), "shot-3": (Need("shot-2", via="from"),)}
    return campaign
