"""The API base URL with user info (``http://user:pw@host/api``): a configuration error that never shows the
password, not a failed run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_in_process import run_main
from engine_helpers import write_campaign

from photogpt_batch.client import check_base_url

SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize("url", [
    f"http://user:{SECRET}@127.0.0.1:1/api",
    f"https://user:{SECRET}@api.example.com/api",
    f"https://:{SECRET}@api.example.com/api",
    f"https://{SECRET}@api.example.com/api",  # a user name alone is a credential too
    f"https://user:{SECRET}@api.example.com/api?x=1",  # also wrong otherwise: still not echoed
])
def test_user_info_in_the_base_url_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(ValueError, match="must not contain a user name or password") as caught:
        check_base_url(url)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("url", [f"http://u:{SECRET}@[::1/api", f"u:{SECRET}@api.example.com/api"])
def test_other_errors_do_not_echo_a_url_that_may_hold_a_password(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_base_url(url)
    assert SECRET not in str(caught.value)


def test_a_plain_base_url_is_accepted() -> None:
    assert str(check_base_url("http://127.0.0.1:1/api")) == "http://127.0.0.1:1/api"


def test_run_with_user_info_in_the_base_url_is_a_configuration_error(tmp_path: Path) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOGPT_")}
    env.update(PHOTOGPT_API_KEY="k", PHOTOGPT_BASE_URL="http://user:pw@127.0.0.1:1/api")
    result = run_main(["run", str(spec), "--quiet"], env)
    assert result.returncode == 2, result.stderr
    assert "PHOTOGPT_BASE_URL" in result.stderr
    assert "pw" not in result.stderr and "pw" not in result.stdout
