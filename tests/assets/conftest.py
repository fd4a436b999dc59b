"""Fixtures for the local-file tests: small real images on disk and a real S3-compatible server (moto's server
mode) on 127.0.0.1."""

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
from asset_helpers import png, s3_client
from engine_helpers import wait_until

BUCKET = "photos-bucket"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server in a thread on a free port of 127.0.0.1 (no IAM checks: any credentials pass)."""
    from moto.server import ThreadedMotoServer  # imported by the worker that runs these tests only

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment of a user whose store is the moto server (endpoint and credentials as the AWS tools
    read them); a fresh bucket. Returns the bucket name."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "PHOTOGPT_BATCH_ASSETS"):
        monkeypatch.delenv(name, raising=False)
    s3 = s3_client(moto_endpoint)
    if not any(b["Name"] == BUCKET for b in s3.list_buckets().get("Buckets", [])):
        s3.create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A spec folder with photos/red.png and photos/green.png."""
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "red.png").write_bytes(png((200, 30, 30)))
    (folder / "green.png").write_bytes(png((30, 200, 30)))
    return tmp_path


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


@pytest.fixture
def wrong_store_credentials(moto_with_auth: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment of a user whose store (moto with IAM checks on) refuses their credentials; returns the
    store's endpoint."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_with_auth)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTAKEYMOTOKNOWS")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_with_auth
