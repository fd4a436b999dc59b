"""A job's identity is its files' content, seen through ``plan``: an edited photo makes its job ``changed`` with
a diff that names the content's hash change; a moved or renamed photo folder changes nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from asset_helpers import campaign_file, png
from click.testing import CliRunner
from engine_helpers import fast_sandbox, load, run_config

from photogpt_batch.assets.sandbox_store import SandboxStore
from photogpt_batch.cli import cli
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread


def plan_json(spec: Path) -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(cli, ["plan", "--json", str(spec)])
    assert result.exit_code == 0, result.output
    return {job["id"]: job for job in json.loads(result.stdout)["jobs"]}


@pytest.fixture
def done(photos: Path) -> Path:
    """A campaign of two photos, run to the end on the sandbox (its own store)."""
    spec = campaign_file(photos, {"red": "file: photos/red.png", "green": "file: photos/green.png"})
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        config = run_config(sandbox)
        config.store = SandboxStore(sandbox.files_url, sandbox.sandbox.signed_url)
        assert run_campaign(load(spec), config).complete
    return spec


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_edited_photo_makes_its_job_changed_with_the_hash_change(done: Path, photos: Path) -> None:
    green = photos / "photos/green.png"
    before = sha(green)
    green.write_bytes(png((10, 120, 10), (64, 36)))
    after = sha(green)
    jobs = plan_json(done)
    assert jobs["red"]["state"] == "done"
    assert jobs["green"]["state"] == "changed"
    assert jobs["green"]["diff"] == [{"path": "referenceImages[0].url", "old": f"asset:sha256:{before}.png",
                                      "new": f"asset:sha256:{after}.png"}]
    text = CliRunner().invoke(cli, ["plan", str(done)]).stdout
    assert (f"~ referenceImages[0].url: file content: sha256 {before[:12]}... → {after[:12]}..."
            in text), text


def test_a_moved_and_renamed_photo_folder_changes_no_job(done: Path, photos: Path) -> None:
    shutil.move(photos / "photos", photos / "renamed")
    (photos / "renamed/red.png").rename(photos / "renamed/red-bottle.png")
    done.write_text(done.read_text(encoding="utf-8").replace("photos/red.png", "renamed/red-bottle.png")
                    .replace("photos/green.png", "renamed/green.png"), encoding="utf-8")
    jobs = plan_json(done)
    assert {job_id: job["state"] for job_id, job in jobs.items()} == {"red": "done", "green": "done"}
    assert "to upload" not in CliRunner().invoke(cli, ["plan", str(done)]).stdout
