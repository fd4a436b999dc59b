"""The spec commands of the CLI: validate, plan, models and schema, in text and JSON."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from photogpt_batch.campaign import canonical_json
from photogpt_batch.cli import cli

ROOT = Path(__file__).parents[2]
SPECS = ROOT / "specs"
CORPUS = Path(__file__).parent / "corpus"
GOOD = SPECS / "demo.yaml"
BAD = CORPUS / "veo_enums.yaml"
WARNS = CORPUS / "dropped_values.yaml"
DIAGNOSTIC_KEYS = {"file", "line", "column", "severity", "message", "hint"}


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every command from an empty folder: `plan` reads the ledger under the spec's output folder."""
    monkeypatch.chdir(tmp_path)


# --- validate -------------------------------------------------------------------------------------------


def test_validate_valid_file_exits_0_with_a_summary() -> None:
    result = invoke("validate", str(GOOD))
    assert result.exit_code == 0
    assert result.stdout.strip() == f"{GOOD}: 0 errors, 0 warnings, 4 jobs"


def test_validate_every_example_campaign_is_valid() -> None:
    result = invoke("validate", *map(str, sorted(SPECS.glob("*.yaml"))))
    assert result.exit_code == 0, result.output


def test_validate_many_files_summarises_each_and_exits_2_if_any_is_invalid() -> None:
    result = invoke("validate", str(GOOD), str(BAD), str(WARNS))
    assert result.exit_code == 2
    summaries = [line for line in result.stdout.splitlines() if ": error: " not in line and ": warning: " not in line]
    assert summaries == [
        f"{GOOD}: 0 errors, 0 warnings, 4 jobs",
        f"{BAD}: 6 errors, 0 warnings: invalid, nothing sent",
        f"{WARNS}: 0 errors, 3 warnings, 3 jobs",
    ]


def test_validate_prints_one_located_line_per_problem() -> None:
    lines = invoke("validate", str(BAD)).stdout.splitlines()
    assert lines[0].startswith(f"{BAD}:8:16: error: numVideos: 0 is below the minimum 1")
    assert len(lines) == 7


def test_validate_prints_warnings_of_a_valid_file_and_exits_0() -> None:
    result = invoke("validate", str(WARNS))
    assert result.exit_code == 0
    assert sum(": warning: " in line for line in result.stdout.splitlines()) == 3


def test_validate_json_gives_one_result_per_file() -> None:
    result = invoke("validate", "--json", str(GOOD), str(BAD))
    assert result.exit_code == 2
    good, bad = json.loads(result.stdout)
    assert good == {"file": str(GOOD), "ok": True, "jobs": 4, "diagnostics": []}
    assert (bad["file"], bad["ok"], bad["jobs"]) == (str(BAD), False, None)
    assert len(bad["diagnostics"]) == 6


def test_validate_json_diagnostics_carry_file_line_column_severity_message_hint() -> None:
    diagnostic = json.loads(invoke("validate", "--json", str(BAD)).stdout)[0]["diagnostics"][0]
    assert set(diagnostic) == DIAGNOSTIC_KEYS
    assert (diagnostic["file"], diagnostic["line"], diagnostic["column"], diagnostic["severity"]) == (
        str(BAD), 8, 16, "error")


def test_validate_json_is_the_only_thing_on_stdout() -> None:
    json.loads(invoke("validate", "--json", str(WARNS), str(CORPUS / "yaml_1_1.yaml")).stdout)


def test_validate_missing_file_exits_2_with_a_located_error() -> None:
    result = invoke("validate", "missing.yaml")
    assert result.exit_code == 2
    assert "missing.yaml:1:1: error: cannot read the file" in result.stdout


MANIFEST_ID = "version: 1\ncampaign: clash\njobs:\n  - id: Manifest.JSONL\n    model: veo-3.1\n    prompt: p\n"


def test_validate_refuses_an_id_that_names_the_manifest_with_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "clash.yaml"
    spec.write_text(MANIFEST_ID, encoding="utf-8")
    result = invoke("validate", str(spec))
    assert result.exit_code == 2
    assert f"{spec}:4:9: error: id: 'Manifest.JSONL' clashes with the tool's own manifest.jsonl" in result.stdout


def test_validate_refuses_ids_that_differ_only_in_case_with_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "case.yaml"
    spec.write_text(MANIFEST_ID.replace("Manifest.JSONL", "hero") + "  - id: Hero\n    model: veo-3.1\n    prompt: q\n",
                    encoding="utf-8")
    result = invoke("validate", str(spec))
    assert result.exit_code == 2
    assert (f"{spec}:7:9: error: duplicate job id 'Hero': it names the same output folder as 'hero' (first at "
            "line 4) on macOS and Windows, which ignore case") in result.stdout


def test_run_refuses_an_id_that_names_the_manifest_before_sending_anything(tmp_path: Path) -> None:
    spec = tmp_path / "clash.yaml"
    spec.write_text(MANIFEST_ID, encoding="utf-8")
    result = invoke("run", str(spec), "--sandbox", "--quiet")
    assert result.exit_code == 2
    assert f"{spec}:4:9: error:" in result.output
    assert not (tmp_path / "out").exists()  # no ledger, no sandbox: nothing was started


# --- plan -----------------------------------------------------------------------------------------------


def test_plan_lists_every_job_as_new_with_its_model_and_videos(tmp_path: Path) -> None:
    # --output: a folder of this test's own (the spec's own is out/demo at the repository's top)
    result = invoke("plan", str(GOOD), "--output", "out/demo")
    assert result.exit_code == 0
    rows = [line.split() for line in result.stdout.splitlines()[:-2]]
    assert rows == [
        ["new", "hero", "veo-3.1-fast", "1", "video"],
        ["new", "first-frame", "seedance-2.0", "2", "videos"],
        ["new", "social-9x16", "grok-imagine-1.5", "1", "video"],
        ["new", "social-1x1", "grok-imagine-1.5", "1", "video"],
    ]
    assert result.stdout.splitlines()[-2] == f"demo: 4 jobs (4 new); output {tmp_path / 'out' / 'demo'}"
    # nothing paid yet, anywhere on this machine: every price is unknown, not 0
    assert result.stdout.splitlines()[-1] == "4 new, 0 changed · price unknown (0 priced from 0 past jobs, 4 unknown)"


def test_plan_json_has_every_job_with_id_model_state_request_and_content_hash(tmp_path: Path) -> None:
    result = invoke("plan", "--json", str(GOOD), "--output", "out/demo")
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    assert (plan["campaign"], plan["output"], plan["counts"], plan["orphaned"]) == (
        "demo", str(tmp_path / "out" / "demo"), {"new": 4}, [])
    assert [job["id"] for job in plan["jobs"]] == ["hero", "first-frame", "social-9x16", "social-1x1"]
    for job in plan["jobs"]:
        assert {"id", "model", "state", "request", "contentHash", "warnings"} <= set(job)
        assert job["state"] == "new"
        assert job["request"]["modelID"] == job["model"]
        assert job["contentHash"] == hashlib.sha256(canonical_json(job["request"]).encode()).hexdigest()


def test_plan_json_request_is_the_exact_api_body() -> None:
    jobs = {job["id"]: job for job in json.loads(invoke("plan", "--json", str(GOOD)).stdout)["jobs"]}
    assert jobs["hero"]["request"] == {
        "modelID": "veo-3.1-fast",
        "prompt": "cinematic close-up of an amber glass serum bottle rotating on wet stone",
        "options": {"veo": {"resolution": "720p", "duration": 4, "negativePrompt": "blur, low quality"}},
    }


def test_plan_json_of_a_campaign_with_warnings_lists_them_per_job() -> None:
    jobs = json.loads(invoke("plan", "--json", str(WARNS)).stdout)["jobs"]
    assert [len(job["warnings"]) for job in jobs] == [1, 1, 1]


def test_plan_of_an_invalid_spec_exits_2_and_prints_no_plan() -> None:
    result = invoke("plan", str(BAD))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{BAD}:9:25: error: " in result.stderr


def test_plan_json_of_an_invalid_spec_prints_the_diagnostics_as_json() -> None:
    result = invoke("plan", "--json", str(BAD))
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False and len(report["diagnostics"]) == 6


def test_unchanged_spec_gives_the_same_content_hashes() -> None:
    first = json.loads(invoke("plan", "--json", str(GOOD)).stdout)
    second = json.loads(invoke("plan", "--json", str(GOOD)).stdout)
    assert [j["contentHash"] for j in first["jobs"]] == [j["contentHash"] for j in second["jobs"]]


def test_changed_option_changes_the_content_hash(tmp_path: Path) -> None:
    changed = tmp_path / "demo.yaml"
    changed.write_text(GOOD.read_text().replace("duration: 4\n      negative", "duration: 6\n      negative"))
    before = json.loads(invoke("plan", "--json", str(GOOD)).stdout)["jobs"]
    after = json.loads(invoke("plan", "--json", str(changed)).stdout)["jobs"]
    assert [a["contentHash"] == b["contentHash"] for a, b in zip(before, after, strict=True)] == [
        False, True, True, True]


# --- models ---------------------------------------------------------------------------------------------


def test_models_lists_every_builtin_model_with_its_plugin() -> None:
    result = invoke("models")
    assert result.exit_code == 0
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()}
    assert set(rows) == {"veo-3.1", "veo-3.1-fast", "seedance-1.5-pro", "seedance-2.0", "kling-video-standard",
                         "kling-video-pro", "kling-motion-standard", "kling-motion-pro", "grok-imagine-1.5"}
    assert rows["veo-3.1"][1:4] == ["veo", "plugin", "veo"]
    assert rows["kling-motion-pro"][1:4] == ["kling-motion", "plugin", "kling"]


def test_models_json_gives_each_model_its_plugin_group_and_options() -> None:
    models = {m["id"]: m for m in json.loads(invoke("models", "--json").stdout)}
    assert {m["plugin"] for m in models.values()} == {"veo", "seedance", "kling", "grok"}
    veo = models["veo-3.1"]
    assert set(veo) >= {"id", "family", "plugin", "optionGroup", "description", "options"}
    assert veo["optionGroup"] == "veo"
    assert veo["options"]["duration"]["enum"] == [4, 6, 8]
    assert "draftMode" in models["seedance-1.5-pro"]["options"]
    assert "draftMode" not in models["seedance-2.0"]["options"]


# --- schema ---------------------------------------------------------------------------------------------


def test_schema_out_writes_the_campaign_schema_and_one_per_model(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    result = invoke("schema", "--out", str(out))
    assert result.exit_code == 0
    names = sorted(p.name for p in out.iterdir())
    assert "campaign.schema.json" in names and "veo-3.1.schema.json" in names and len(names) == 10
    assert sorted(Path(line).name for line in result.stdout.splitlines()) == names


def test_schema_out_writes_what_is_committed(tmp_path: Path) -> None:
    invoke("schema", "--out", str(tmp_path / "generated"))
    for path in (ROOT / "schemas").glob("*.schema.json"):
        assert (tmp_path / "generated" / path.name).read_text() == path.read_text(), path.name


def test_schema_check_passes_on_the_committed_schemas() -> None:
    result = invoke("schema", "--check", "--out", str(ROOT / "schemas"))
    assert result.exit_code == 0
    assert result.stdout.strip().endswith(": up to date")


def test_schema_check_fails_on_a_stale_file_and_names_it(tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    shutil.copytree(ROOT / "schemas", out)
    (out / "veo-3.1.schema.json").write_text("{}\n")
    result = invoke("schema", "--check", "--out", str(out))
    assert result.exit_code == 1
    assert f"{out / 'veo-3.1.schema.json'}: out of date" in result.stderr
    assert "regenerate with: photogpt-batch schema" in result.stderr


def test_schema_check_fails_on_a_missing_file(tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    shutil.copytree(ROOT / "schemas", out)
    (out / "grok-imagine-1.5.schema.json").unlink()
    result = invoke("schema", "--check", "--out", str(out))
    assert result.exit_code == 1
    assert "grok-imagine-1.5.schema.json: missing" in result.stderr


@pytest.mark.parametrize("job_id", ["index.html", "INDEX.HTML", "Index.Html.", "index.html.tmp", "Index.HTML.TMP",
                                    "manifest.jsonl.tmp"])
def test_validate_refuses_an_id_that_names_a_file_the_tool_writes_in_any_case_with_exit_2(
        tmp_path: Path, job_id: str) -> None:
    # `id: index.html` would be paid for and never saved: the review page is written there.
    spec = tmp_path / "clash.yaml"
    spec.write_text(MANIFEST_ID.replace("Manifest.JSONL", f'"{job_id}"'), encoding="utf-8")
    result = invoke("validate", str(spec))
    assert result.exit_code == 2, result.output
    assert f"{spec}:4:9: error: id: {job_id!r} clashes with the tool's own " in result.stdout


def test_the_reserved_ids_are_the_names_the_tool_writes() -> None:
    # That a real run writes exactly these at the top of its output folder: tests/test_output_layout.py.
    from photogpt_batch.layout import TOP_LEVEL_NAMES
    from photogpt_batch.spec.ids import OUTPUT_NAMES

    assert set(OUTPUT_NAMES.values()) == set(TOP_LEVEL_NAMES) == {
        "manifest.jsonl", "manifest.jsonl.tmp", "index.html", "index.html.tmp", ".photogpt-batch", "sequences"}
