"""This machine's index of campaigns: a campaign started over in an empty folder by mistake is refused,
naming the folder that holds its paid jobs; ``--fresh`` says starting over is meant."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import fast_sandbox, load, posts, run_config, write_campaign

from photogpt_batch import campaign_index
from photogpt_batch.cli import cli
from photogpt_batch.runner import ConfigError, RunConfig, run_campaign
from photogpt_batch.sandbox import SandboxThread


@pytest.fixture
def sandbox():
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


def _elsewhere(spec: Path, folder: Path):
    campaign = load(spec)
    campaign.output = folder
    return campaign


def test_the_index_lives_in_xdg_state_home(state_home: Path) -> None:
    assert campaign_index._path(None) == state_home / "photogpt-batch" / campaign_index.INDEX_FILE


def test_a_run_from_scratch_while_another_folder_holds_paid_jobs_is_refused(
        tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    assert run_campaign(load(spec), run_config(sandbox)).complete
    sent = posts(sandbox)

    with pytest.raises(ConfigError, match=f"already has paid jobs in {tmp_path / 'out'}.*--fresh"):
        run_campaign(_elsewhere(spec, tmp_path / "other"), run_config(sandbox))

    assert posts(sandbox) == sent


def test_the_cli_exits_2_naming_the_folder_and_fresh_starts_over(
        tmp_path: Path, sandbox: SandboxThread, fast_in_process_runs: None) -> None:
    spec = write_campaign(tmp_path, jobs=2)
    assert run_campaign(load(spec), run_config(sandbox)).complete
    env = {"PHOTOGPT_API_KEY": "test-key", "PHOTOGPT_BASE_URL": sandbox.base_url}
    args = ["run", str(spec), "--output", str(tmp_path / "again"), "--rate", "1000", "--quiet"]

    refused = CliRunner().invoke(cli, args, env=env)
    assert refused.exit_code == 2
    assert str(tmp_path / "out") in refused.stderr and "Traceback" not in refused.stderr
    assert posts(sandbox) == 2

    fresh = CliRunner().invoke(cli, [*args, "--fresh"], env=env)
    assert fresh.exit_code == 0, fresh.stderr
    assert posts(sandbox) == 4
    # Once that folder holds paid jobs of its own, a rerun there needs no --fresh.
    assert CliRunner().invoke(cli, args, env=env).exit_code == 0


def test_a_rehearsal_on_the_sandbox_never_blocks_a_real_run(
        tmp_path: Path, sandbox: SandboxThread, fast_in_process_runs: None) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    assert run_campaign(load(spec), RunConfig(sandbox=True, requests_per_second=1000)).complete
    assert run_campaign(_elsewhere(spec, tmp_path / "live"), run_config(sandbox)).complete


def test_a_folder_whose_ledger_never_sent_anything_does_not_block(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    campaign_index.remember("t", sandbox.base_url.rsplit("/api", 1)[0], tmp_path / "out")
    (tmp_path / "out").mkdir()
    assert run_campaign(_elsewhere(spec, tmp_path / "other"), run_config(sandbox)).complete


def test_a_folder_that_no_longer_exists_drops_out_of_the_index(tmp_path: Path, state_home: Path) -> None:
    for name in ("gone", "kept"):
        (tmp_path / name).mkdir()
        campaign_index.remember(name, "default", tmp_path / name)
    shutil.rmtree(tmp_path / "gone")
    assert [e.output for e in campaign_index.read()] == [str(tmp_path / "kept")]
    campaign_index.remember("kept", "default", tmp_path / "kept")
    stored = json.loads((state_home / "photogpt-batch" / "campaigns.json").read_text())
    assert [e["output"] for e in stored["campaigns"]] == [str(tmp_path / "kept")]


@pytest.mark.parametrize("damage", [b"{not json", b"\x00\xff" * 10, b'{"campaigns": 3}', b"[]",
                                    b'{"campaigns": [{"campaign": "x"}, 7]}'])
def test_a_damaged_index_is_rebuilt_with_a_warning(tmp_path: Path, state_home: Path, damage: bytes,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    index = state_home / "photogpt-batch" / "campaigns.json"
    index.parent.mkdir(parents=True)
    index.write_bytes(damage)
    (tmp_path / "out").mkdir()
    with caplog.at_level(logging.WARNING):
        campaign_index.remember("t", "default", tmp_path / "out")
    assert [e.output for e in campaign_index.read()] == [str(tmp_path / "out")]
    if damage != b'{"campaigns": [{"campaign": "x"}, 7]}':  # damaged entries alone are dropped silently
        assert "cannot be read" in caplog.text


def test_an_index_that_cannot_be_written_only_warns(tmp_path: Path, state_home: Path, sandbox: SandboxThread,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    (state_home / "photogpt-batch").write_text("a file where the state folder goes")
    with caplog.at_level(logging.WARNING):
        assert run_campaign(load(write_campaign(tmp_path, jobs=1)), run_config(sandbox)).complete
    assert "cannot update the index" in caplog.text


def test_plan_of_a_campaign_started_over_elsewhere_says_where_its_paid_jobs_are(tmp_path: Path,
                                                                               sandbox: SandboxThread) -> None:
    spec = write_campaign(tmp_path, jobs=1)
    assert run_campaign(load(spec), run_config(sandbox)).complete
    elsewhere = CliRunner().invoke(cli, ["plan", str(spec), "--output", str(tmp_path / "other")])
    assert elsewhere.exit_code == 0
    assert f"already has paid jobs in {tmp_path / 'out'}" in elsewhere.stderr
    assert "already has paid jobs" not in CliRunner().invoke(cli, ["plan", str(spec)]).stderr
