"""``from:`` in a spec: another job's output as an input. Located errors (an unknown id with the closest one, a
job that takes its own output, a cycle, a malformed frame, ``from`` with ``url``); placeholders filled; each
``from:`` a need; and the identity: a downstream job's hash includes its upstream's, which ``plan`` names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import fast_sandbox, load, run_config

from photogpt_batch.assets.sandbox_store import SandboxStore
from photogpt_batch.campaign import Need
from photogpt_batch.cli import cli
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread
from photogpt_batch.spec.diagnostics import SpecError
from photogpt_batch.spec.load import load_campaign

HEAD = "version: 1\ncampaign: chain\noutput: out\ndefaults: {model: veo-3.1, options: {duration: 4}}\njobs:\n"


def write(tmp_path: Path, jobs: str) -> Path:
    spec = tmp_path / "chain.yaml"
    spec.write_text(HEAD + jobs, encoding="utf-8")
    return spec


def errors(tmp_path: Path, jobs: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_campaign(write(tmp_path, jobs), hash_cache=tmp_path)
    return [f"{d.line}:{d.column}: {d.message}; {d.hint}" for d in caught.value.diagnostics]


def test_placeholders_are_filled_and_each_from_is_a_need(tmp_path: Path) -> None:
    campaign = load_campaign(write(tmp_path, """  - id: "draft-{n}"
    matrix: {n: [1, 2]}
    prompt: draft {n}
  - id: "next-{n}"
    matrix: {n: [1, 2]}
    prompt: next {n}
    referenceImages: [{from: "draft-{n}", frame: 2.50s, role: first_frame}]
"""), hash_cache=tmp_path)
    bodies = {job.id: job for job in campaign.jobs}
    draft = bodies["draft-2"].content_hash[:16]
    assert bodies["next-2"].body["referenceImages"] == [{"url": f"output:draft-2@{draft}#frame=2.5s",
                                                        "role": "first_frame"}]
    assert campaign.needs == {"next-1": (Need("draft-1", via="from"),), "next-2": (Need("draft-2", via="from"),)}


@pytest.mark.parametrize("item, expected", [
    ("{from: shot-11, role: first_frame}", "10:30: referenceImages[0].from: shot-11 is not the id of a job of this "
     "spec (job shot-2); did you mean 'shot-1'?"),
    ("{from: shot-2, role: first_frame}", "10:30: referenceImages[0].from: shot-2 is this job itself (job shot-2)"),
    ("{from: shot-1, frame: 2.5, role: first_frame}", "10:45: referenceImages[0].frame: 2.5 is not a frame "
     "(veo-3.1; job shot-2); write `frame: last`, `frame: first` or a time in seconds such as `frame: 2.5s`"),
    ("{from: shot-1, frame: middle, role: first_frame}", "10:45: referenceImages[0].frame: 'middle' is not a frame"),
    ("{from: shot-1, url: 'https://example.com/a.png', role: first_frame}",
     "referenceImages[0]: give one of url, file or from, not both"),
    ("{url: 'output:shot-1', role: first_frame}", "referenceImages[0].url: output:shot-1 is not an http(s) URL"),
])
def test_bad_from_items_are_located_errors(tmp_path: Path, item: str, expected: str) -> None:
    found = errors(tmp_path, f"""  - id: shot-1
    prompt: a
  - id: shot-2
    prompt: b
    referenceImages: [{item}]
""")
    assert any(expected in e for e in found), found


def test_a_cycle_is_an_error_at_each_of_its_jobs(tmp_path: Path) -> None:
    found = errors(tmp_path, """  - id: shot-1
    prompt: a
    referenceImages: [{from: shot-2, role: first_frame}]
  - id: shot-2
    prompt: b
    referenceImages: [{from: shot-1, role: first_frame}]
""")
    assert [e.split(";")[0] for e in found] == [
        "8:30: referenceImages[0].from: a cycle: shot-1 → shot-2 → shot-1 (job shot-1)",
        "11:30: referenceImages[0].from: a cycle: shot-1 → shot-2 → shot-1 (job shot-2)"]


def test_a_frame_in_a_reference_video_is_an_error(tmp_path: Path) -> None:
    found = errors(tmp_path, """  - id: shot-1
    prompt: a
  - id: shot-2
    model: seedance-2.0
    prompt: b
    referenceVideos: [{from: shot-1, frame: last}]
""")
    assert any("referenceVideos[0].frame: a reference video is the whole video" in e for e in found), found


CHAIN = """  - id: shot-1
    prompt: {prompt}
  - id: shot-2
    prompt: on
    referenceImages: [{{from: shot-1, role: first_frame}}]
  - id: shot-3
    prompt: and on
    referenceImages: [{{from: shot-2, frame: first, role: first_frame}}]
"""


def test_a_change_upstream_changes_every_job_below_and_plan_names_it(tmp_path: Path) -> None:
    spec = write(tmp_path, CHAIN.format(prompt="a fox"))
    before = {job.id: job.content_hash for job in load(spec).jobs}
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        config = run_config(sandbox)
        config.store = SandboxStore(sandbox.files_url, sandbox.sandbox.signed_url)
        for _ in range(3):  # one link of the chain a run (the engine does not hold jobs back on this branch)
            run_campaign(load(spec), config)
        assert len(sandbox.jobs) == 3
    write(tmp_path, CHAIN.format(prompt="a wolf"))
    after = {job.id: job.content_hash for job in load(spec).jobs}
    assert all(before[k] != after[k] for k in before)  # shot-3 through shot-2: recursive
    result = CliRunner().invoke(cli, ["plan", "--json", str(spec)])
    jobs = {job["id"]: job for job in json.loads(result.stdout)["jobs"]}
    assert [jobs[k]["state"] for k in ("shot-1", "shot-2", "shot-3")] == ["changed"] * 3
    text = CliRunner().invoke(cli, ["plan", str(spec)]).stdout
    old, new = before["shot-1"][:16], after["shot-1"][:16]
    assert f"~ referenceImages[0].url: from shot-1, which changed: version {old} → {new}" in text, text
