"""A store that goes away mid-run (moto's server stopped after the first upload): the job whose file was staged is
sent and fails clearly when the server cannot fetch it; the job whose file could not be staged is not sent, so
nothing is paid for it, and it says why; once the store is back, the next run sends it (and, with
--retry-failed, the failed one again)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from asset_helpers import campaign_file, s3_client
from click.testing import CliRunner
from engine_helpers import fast_sandbox, load, posts, run_config
from moto.server import ThreadedMotoServer

from photogpt_batch.assets.s3 import S3Store
from photogpt_batch.cli import cli
from photogpt_batch.engine.progress import Progress
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread


class GoesAwayAfterFirstUpload(S3Store):
    """A real S3 store whose server is stopped as soon as the first file has been uploaded."""

    def __init__(self, bucket: str, prefix: str, server: ThreadedMotoServer):
        super().__init__(bucket, prefix)
        self.server = server
        self.puts = 0

    async def put(self, key: str, path: Path, mime: str) -> None:
        await super().put(key, path, mime)
        self.puts += 1
        if self.puts == 1:
            self.server.stop()


def test_a_store_that_goes_away_leaves_the_rest_unsent_and_unpaid(photos: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    s3_client(endpoint).create_bucket(Bucket="away")
    spec = campaign_file(photos, {"red": "file: photos/red.png", "green": "file: photos/green.png"})
    try:
        with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
            config = run_config(sandbox, concurrency=1)  # one job at a time: the second finds the store gone
            config.store = store = GoesAwayAfterFirstUpload("away", "cat", server)
            summary = run_campaign(load(spec), config, Progress(1))
            assert store.puts == 1
            assert posts(sandbox) == 1  # only the job whose file was staged was sent (and paid for)
            assert [job_id for job_id, _ in summary.failed] == ["red"]
            assert "failed to download reference file" in summary.failed[0][1]  # the server's own message
            assert "green  its reference file could not be staged: s3://away/cat:" in capsys.readouterr().err
            states = {job["id"]: job["state"]
                      for job in json.loads(CliRunner().invoke(cli, ["plan", "--json", str(spec)]).stdout)["jobs"]}
            assert states == {"red": "failed", "green": "new"}  # green is still to send, never sent

            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)  # the store is back
            server.start()
            config.store = S3Store("away", "cat")
            assert config.engine is not None
            config.engine.retry_failed = True
            summary = run_campaign(load(spec), config)
            assert summary.complete and posts(sandbox) == 3
    finally:
        server.stop()
