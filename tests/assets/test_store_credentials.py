"""A store that refuses the credentials: the run ends before anything is sent to the API (exit 2's error)."""

from __future__ import annotations

from pathlib import Path

import pytest
from asset_helpers import campaign_file
from engine_helpers import fast_sandbox, load, posts, run_config

from photogpt_batch.runner import ConfigError, run_campaign
from photogpt_batch.sandbox import SandboxThread


@pytest.mark.slow
def test_wrong_store_credentials_end_the_run_before_anything_is_sent(photos: Path,
                                                                     wrong_store_credentials: str) -> None:
    campaign = load(campaign_file(photos, {"red": "file: photos/red.png"}))
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        config = run_config(sandbox)
        config.assets = "s3://photos-bucket/catalog"
        with pytest.raises(ConfigError, match=r"the object store refused the credentials: .*nothing was sent"):
            run_campaign(campaign, config)
        assert posts(sandbox) == 0
