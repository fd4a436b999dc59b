"""``--accept-model ID:GROUP``: the sandbox takes a model it does not know, checking its envelope and group only."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from sandbox_helpers import Api

from photogpt_batch.sandbox.state import credits_for
from photogpt_batch.sandbox.validation import RequestInvalid, parse_accepted_model, validate_generation

ACCEPT = {"acme-1": "acme"}


def acme(**fields: Any) -> dict[str, Any]:
    return {"modelID": "acme-1", "prompt": "a detective in the rain", **fields}


def test_an_unknown_model_is_refused_unless_accepted() -> None:
    with pytest.raises(RequestInvalid) as refused:
        validate_generation(acme())
    assert refused.value.field == "modelID"
    assert validate_generation(acme(), ACCEPT).model_id == "acme-1"


def test_an_accepted_model_takes_any_options_in_its_own_group() -> None:
    generation = validate_generation(acme(numVideos=2, options={"acme": {"style": "noir", "duration": 5}}), ACCEPT)
    assert (generation.num_videos, generation.seconds) == (2, 5)
    assert credits_for(generation) == 1 * 5 * 2  # an accepted model bills 1 credit per second


@pytest.mark.parametrize(("payload", "named"), [
    (acme(options={"veo": {}}), "options.veo"),
    (acme(options={"acme": 3}), "options.acme"),
    (acme(prompt=""), "prompt"),
    (acme(numVideos=0), "numVideos"),
    (acme(webhook="https://x"), "webhook"),
    (acme(referenceImages=[{"url": "ftp://x/a.png", "role": "first_frame"}]), "referenceImages[0].url"),
    (acme(referenceImages=[{"url": "https://x/a.png", "role": "first_frame", "containsHuman": True}]),
     "referenceImages[0].containsHuman"),
])
def test_an_accepted_model_still_has_its_envelope_and_group_checked(payload: dict[str, Any], named: str) -> None:
    with pytest.raises(RequestInvalid) as refused:
        validate_generation(payload, ACCEPT)
    assert refused.value.field == named


@pytest.mark.parametrize(("text", "problem"), [
    ("acme-1", "expected ID:GROUP"), ("acme-1:", "expected ID:GROUP"), (":acme", "expected ID:GROUP"),
    ("acme-1:Acme", "lower-case"), ("veo-3.1:veo", "a model the sandbox knows"),
])
def test_accept_model_values_are_checked(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_accepted_model(text)


async def test_the_server_accepts_the_model_it_was_told_to(make_sandbox, api_for) -> None:
    api: Api = api_for(await make_sandbox(accept_models=dict(ACCEPT)))
    status, answer = await api.request("POST", "/videos/generation", json=acme(options={"acme": {"style": "noir"}}))
    assert status == 200 and answer["result"]["status"] == "queued"
    status, answer = await api.request("POST", "/videos/generation", json={**acme(), "modelID": "acme-2"})
    assert status == 400 and "acme-2" in answer["message"]


@pytest.mark.slow
def test_the_sandbox_command_refuses_a_malformed_accept_model() -> None:
    result = subprocess.run([sys.executable, "-m", "photogpt_batch.sandbox", "--port", "0", "--accept-model", "acme"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "expected ID:GROUP" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--sandbox", "--accept-model", "acme-1"], "expected ID:GROUP"),
    (["--accept-model", "acme-1:acme"], "add --sandbox"),
])
def test_run_refuses_a_bad_accept_model_before_anything_starts(tmp_path, args: list[str], message: str) -> None:
    from click.testing import CliRunner

    from photogpt_batch.cli import cli

    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\ncampaign: c\njobs:\n  - {id: a, model: veo-3.1, prompt: p}\n")
    result = CliRunner().invoke(cli, ["run", str(spec), "--output", str(tmp_path / "out"), *args])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "out").exists()
