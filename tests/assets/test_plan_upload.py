"""``plan`` says what a run would upload: the local files of the jobs it would submit, each once, "up to" (the
store is not asked: plan sends nothing), where to; and what a missing store means."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from asset_helpers import campaign_file, png
from click.testing import CliRunner
from engine_helpers import fast_sandbox, load, run_config

from photogpt_batch.assets.sandbox_store import SandboxStore
from photogpt_batch.cli import cli
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread

STORE = "s3://photos-bucket/catalog"


@pytest.fixture
def spec(photos: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three jobs, two photos (red twice); the store configured in the environment."""
    monkeypatch.setenv("PHOTOGPT_BATCH_ASSETS", STORE)
    return campaign_file(photos, {"red": "file: photos/red.png", "green": "file: photos/green.png",
                                  "red-again": "file: photos/red.png"})


def size(*paths: Path) -> int:
    return sum(p.stat().st_size for p in paths)


def test_plan_says_up_to_how_many_files_and_bytes_go_where(spec: Path, photos: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", str(spec)])
    assert result.exit_code == 0, result.output
    total = size(photos / "photos/red.png", photos / "photos/green.png")
    assert total < 1_000  # the test's photos are tiny: shown in bytes, not as "0.0 MB"
    assert result.stdout.splitlines()[-1] == (f"up to 2 file(s), {total} bytes to upload to {STORE} "
                                              "(run skips those already there)")
    data = json.loads(CliRunner().invoke(cli, ["plan", "--json", str(spec)]).stdout)
    assert data["upload"] == {"files": 2, "bytes": total, "store": STORE, "atMost": True}


def test_assets_option_overrides_the_environment(spec: Path) -> None:
    data = json.loads(CliRunner().invoke(cli, ["plan", "--json", "--assets", "s3://other/p", str(spec)]).stdout)
    assert data["upload"]["store"] == "s3://other/p"


def test_only_the_files_of_jobs_to_submit_count(spec: Path, photos: Path) -> None:
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        config = run_config(sandbox)
        config.store = SandboxStore(sandbox.files_url, sandbox.sandbox.signed_url)
        assert run_campaign(load(spec), config).complete
    data = json.loads(CliRunner().invoke(cli, ["plan", "--json", str(spec)]).stdout)
    assert data["upload"] is None  # every job is done: nothing to upload
    assert "to upload" not in CliRunner().invoke(cli, ["plan", str(spec)]).stdout
    (photos / "photos/green.png").write_bytes(png((10, 220, 10), (80, 40)))
    data = json.loads(CliRunner().invoke(cli, ["plan", "--json", str(spec)]).stdout)
    assert data["upload"] == {"files": 1, "bytes": size(photos / "photos/green.png"), "store": STORE,
                              "atMost": True}


def test_without_a_store_plan_says_run_would_refuse_and_how_to_configure_one(spec: Path,
                                                                             monkeypatch: pytest.MonkeyPatch
                                                                             ) -> None:
    monkeypatch.delenv("PHOTOGPT_BATCH_ASSETS")
    result = CliRunner().invoke(cli, ["plan", str(spec)])
    assert result.exit_code == 0, result.output
    line = result.stdout.splitlines()[-1]
    assert line.startswith("2 file(s), ") and "no object store is configured" in line
    assert "PHOTOGPT_BATCH_ASSETS=s3://BUCKET/PREFIX" in line and "--sandbox" in line
    assert json.loads(CliRunner().invoke(cli, ["plan", "--json", str(spec)]).stdout)["upload"]["store"] is None


def test_a_bad_store_address_is_a_configuration_error(spec: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", "--assets", "https://bucket/p", str(spec)])
    assert result.exit_code == 2
    assert "not an s3://BUCKET/PREFIX address" in result.stderr


@pytest.mark.slow
def test_plan_of_local_files_imports_neither_boto3_nor_the_http_client(spec: Path, tmp_path: Path) -> None:
    code = ("import sys; sys.argv = ['photogpt-batch', 'plan', sys.argv[1]]\n"
            "from photogpt_batch.cli import main\n"
            "try:\n    main()\nfinally:\n"
            "    print('MODULES', ' '.join(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, timeout=120)
    assert "to upload to s3://" in done.stdout, done.stderr
    modules = set(done.stdout.split("MODULES", 1)[1].split())
    assert not {m for m in modules if m.split(".")[0] in ("boto3", "botocore", "aiohttp")}
    assert "photogpt_batch.client" not in modules
