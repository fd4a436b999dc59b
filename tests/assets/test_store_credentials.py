"""A store that refuses the credentials: the run ends before anything is sent to the API (exit 2's error)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from asset_helpers import campaign_file
from engine_helpers import fast_sandbox, load, posts, run_config, wait_until

from photogpt_batch.runner import ConfigError, run_campaign
from photogpt_batch.sandbox import SandboxThread


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
    except urllib.error.HTTPError:
        return True  # it answered, with an error: it is up
    except OSError:
        return False
    return True


@pytest.fixture
def moto_with_auth() -> Iterator[str]:
    """moto's server in its own process with IAM checks on: only keys it issued are accepted."""
    port = _free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="0")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url + "/"), timeout=60)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.slow
def test_wrong_store_credentials_end_the_run_before_anything_is_sent(photos: Path, moto_with_auth: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_with_auth)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTAKEYMOTOKNOWS")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    campaign = load(campaign_file(photos, {"red": "file: photos/red.png"}))
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        config = run_config(sandbox)
        config.assets = "s3://photos-bucket/catalog"
        with pytest.raises(ConfigError, match=r"the object store refused the credentials: .*nothing was sent"):
            run_campaign(campaign, config)
        assert posts(sandbox) == 0
