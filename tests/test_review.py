"""The review page without a browser: what it embeds, how it escapes, when it is written; picks in the ledger."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from engine_helpers import fast_sandbox, load, run_config

from photogpt_batch.cli import cli
from photogpt_batch.engine.progress import Progress
from photogpt_batch.ledger import Ledger
from photogpt_batch.review import embed_json, render_page, review_page_data, write_review_page
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import Faults, SandboxThread

HOSTILE = '</script><script>window.__pwned=1</script><!-- "quotes" & \'single\' \u2028\u2029 {{DATA}} {{SCRIPT}}'


def spec_file(tmp_path: Path, prompt: str = "a {ratio} shot") -> Path:
    spec = tmp_path / "rv.yaml"
    spec.write_text(f"""version: 1
campaign: rv
output: {tmp_path / 'out'}
jobs:
  - id: "m-{{ratio}}"
    model: grok-imagine-1.5
    prompt: {json.dumps(prompt)}
    matrix:
      ratio: ["9:16", "1:1"]
      model: [grok-imagine-1.5]
    options: {{aspectRatio: "{{ratio}}", duration: 2}}
  - id: single
    model: veo-3.1-fast
    prompt: just one
""", encoding="utf-8")
    return spec


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def sandbox():
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


def embedded(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', page, re.S)
    assert match is not None
    return json.loads(match.group(1))


def test_embedded_json_cannot_close_its_script_or_break_a_line() -> None:
    text = embed_json({"p": HOSTILE})
    assert not re.search("[<>&\u2028\u2029]", text)
    assert json.loads(text) == {"p": HOSTILE}


def test_a_hostile_prompt_stays_inside_the_data_block(tmp_path: Path) -> None:
    campaign = load(spec_file(tmp_path, prompt=HOSTILE + " {ratio}"))
    with Ledger.in_memory() as ledger:
        page = render_page(review_page_data(campaign, ledger))
    # The page's own two script elements close, and nothing else does.
    assert page.count("</script>") == 2 and page.count("<script") == 2
    assert embedded(page)["jobs"][0]["prompt"] == campaign.jobs[0].body["prompt"]
    assert "</script><script>window.__pwned=1" in campaign.jobs[0].body["prompt"]


def test_text_that_looks_like_a_template_marker_is_not_filled_in() -> None:
    data = {"campaign": "{{TITLE}}", "axes": ["model"], "jobs": [], "totals": {}, "picks": {"x": "{{SCRIPT}}"}}
    page = render_page(data)
    assert embedded(page) == data


def test_only_the_pages_own_script_and_style_may_run() -> None:
    page = render_page({"campaign": "c", "axes": ["model"], "jobs": [], "totals": {}, "picks": None})
    csp_tag = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    script_tag = re.search(r"<script>(.*)</script>", page, re.S)
    assert csp_tag and script_tag
    csp, script = csp_tag.group(1), script_tag.group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp


def test_review_page_data_has_the_campaigns_axes_states_and_files(tmp_path: Path, sandbox: SandboxThread) -> None:
    campaign = load(spec_file(tmp_path))
    run_campaign(campaign, run_config(sandbox))
    with Ledger.open_for_reading(campaign.output) as ledger:
        data = review_page_data(campaign, ledger)
    assert data["axes"] == ["model", "ratio"]
    by_id = {job["id"]: job for job in data["jobs"]}
    assert by_id["m-9x16"]["axes"] == {"model": "grok-imagine-1.5", "ratio": "9:16"}
    assert by_id["single"]["axes"] == {"model": "veo-3.1-fast", "ratio": "—"}
    assert by_id["m-1x1"]["videos"][0]["src"] == "m-1x1/1.mp4" and by_id["m-1x1"]["state"] == "done"
    assert data["totals"]["credits"] == sum(job["credits"] for job in data["jobs"]) > 0


def test_run_writes_the_page_and_an_unchanged_rerun_leaves_it_alone(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = spec_file(tmp_path)
    run_campaign(load(spec), run_config(sandbox))
    page = tmp_path / "out" / "index.html"
    assert {j["id"] for j in embedded(page.read_text())["jobs"]} == {"m-9x16", "m-1x1", "single"}
    before = page.stat().st_mtime_ns
    run_campaign(load(spec), run_config(sandbox))
    assert page.stat().st_mtime_ns == before


def test_a_page_that_cannot_be_written_is_a_warning_not_a_failed_run(tmp_path: Path, sandbox: SandboxThread) -> None:
    (tmp_path / "out" / "index.html").mkdir(parents=True)
    (tmp_path / "out" / "index.html" / "keep").write_text("x")
    stream = io.StringIO()
    summary = run_campaign(load(spec_file(tmp_path)), run_config(sandbox), Progress(3, stream, interactive=False))
    assert summary.complete
    assert "warning: the review page was not written" in stream.getvalue()


def test_review_command_writes_the_page_for_a_campaign_that_never_ran(tmp_path: Path) -> None:
    result = invoke("review", str(spec_file(tmp_path)))
    assert result.exit_code == 0, result.output
    data = embedded((tmp_path / "out" / "index.html").read_text())
    assert {job["state"] for job in data["jobs"]} == {"new"}


def picks_file(tmp_path: Path, picks: list, campaign: str = "rv") -> Path:
    path = tmp_path / "picks.json"
    path.write_text(json.dumps({"format": "photogpt-batch-picks", "version": 1, "campaign": campaign,
                                "picks": picks}))
    return path


def test_picks_are_recorded_in_the_ledger_and_shown_by_status(tmp_path: Path, sandbox: SandboxThread) -> None:
    spec = spec_file(tmp_path)
    run_campaign(load(spec), run_config(sandbox))
    file = picks_file(tmp_path, [{"job": "m-1x1", "pickedAt": "2026-01-02T03:04:05Z"}, {"job": "gone"}])
    result = invoke("review", str(spec), "--picks", str(file))
    assert result.exit_code == 0, result.output
    assert "no job 'gone'" in result.output
    status = json.loads(invoke("status", str(spec), "--json").stdout)
    assert status["picks"]["jobs"] == [{"job": "m-1x1", "pickedAt": "2026-01-02T03:04:05Z"}]
    assert "picked (" in invoke("status", str(spec)).output and "): m-1x1" in invoke("status", str(spec)).output
    # The page starts from the recorded picks.
    assert embedded((tmp_path / "out" / "index.html").read_text())["picks"]["jobs"][0]["job"] == "m-1x1"


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "is not JSON"),
    ('{"picks": []}', "is not a picks file"),
    ('{"format": "photogpt-batch-picks", "campaign": "other", "picks": []}', "campaign 'other'"),
    ('{"format": "photogpt-batch-picks", "campaign": "rv", "picks": [3]}', "picks[0] must be an object"),
])
def test_a_bad_picks_file_is_a_usage_error_and_records_nothing(tmp_path: Path, sandbox: SandboxThread,
                                                               content: str, message: str) -> None:
    spec = spec_file(tmp_path)
    run_campaign(load(spec), run_config(sandbox))
    (tmp_path / "bad.json").write_text(content)
    result = invoke("review", str(spec), "--picks", str(tmp_path / "bad.json"))
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output
    assert json.loads(invoke("status", str(spec), "--json").stdout)["picks"] is None


def test_picks_for_a_campaign_that_never_ran_are_refused(tmp_path: Path) -> None:
    spec = spec_file(tmp_path)
    result = invoke("review", str(spec), "--picks", str(picks_file(tmp_path, [{"job": "single"}])))
    assert result.exit_code == 2 and "run the campaign before recording picks" in result.output


def test_write_review_page_is_a_library_call(tmp_path: Path) -> None:
    path = write_review_page(load(spec_file(tmp_path)))
    assert path == tmp_path / "out" / "index.html" and path.read_text().startswith("<!doctype html>")


def test_jobs_in_doubt_and_failed_show_their_state_and_the_servers_reason(tmp_path: Path) -> None:
    faults = Faults(lost_post_nth=(1,), lost_post_mode="error", fail_nth=(2,), fail_message="no <good> reason")
    with SandboxThread(fast_sandbox(faults=faults)) as sandbox:
        campaign = load(spec_file(tmp_path))
        run_campaign(campaign, run_config(sandbox, concurrency=1))
    with Ledger.open_for_reading(campaign.output) as ledger:
        jobs = {job["id"]: job for job in review_page_data(campaign, ledger)["jobs"]}
    assert (jobs["m-9x16"]["state"], jobs["m-9x16"]["stateLabel"]) == ("in_doubt", "in doubt")
    assert jobs["m-9x16"]["videos"] == [] and jobs["m-9x16"]["error"]
    assert (jobs["m-1x1"]["state"], jobs["m-1x1"]["error"]) == ("failed", "no <good> reason")
    assert jobs["single"]["state"] == "done"


def test_the_page_of_a_folder_that_belongs_to_another_campaign_is_refused(tmp_path: Path,
                                                                         sandbox: SandboxThread) -> None:
    run_campaign(load(spec_file(tmp_path)), run_config(sandbox))
    other = tmp_path / "other.yaml"
    other.write_text(spec_file(tmp_path).read_text().replace("campaign: rv", "campaign: other"))
    result = invoke("review", str(other))
    assert result.exit_code == 2 and "belongs to campaign 'rv'" in result.output
