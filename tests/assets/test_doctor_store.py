"""``doctor``'s ``store`` check against a real S3-compatible server (moto): it writes, reads back, signs and
fetches, then deletes its probe; each failure says what to do; no store configured is said, not failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from asset_helpers import s3_client
from click.testing import CliRunner

from photogpt_batch.cli import cli
from photogpt_batch.doctor_store import check_store


def objects(endpoint: str, bucket: str, prefix: str) -> list[str]:
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for o in listing.get("Contents", [])]


def test_a_working_store_passes_and_its_probe_is_deleted(s3_env: str, moto_endpoint: str) -> None:
    check = check_store(f"s3://{s3_env}/doctor", {}, sandbox=False)
    assert (check.verdict, check.advice) == ("ok", None), check
    assert check.summary == f"s3://{s3_env}/doctor: writes, reads back and signs URLs the API can fetch"
    assert objects(moto_endpoint, s3_env, "doctor/") == []


def test_the_store_is_read_from_the_environment_when_not_given(s3_env: str) -> None:
    check = check_store(None, {"PHOTOGPT_BATCH_ASSETS": f"s3://{s3_env}/from-env"}, sandbox=False)
    assert check.verdict == "ok" and check.summary.startswith(f"s3://{s3_env}/from-env:")


def test_no_store_configured_is_said_not_failed() -> None:
    check = check_store(None, {}, sandbox=True)
    assert check.verdict == "ok"
    assert "none configured" in check.summary and "sandbox's own store" in check.summary
    assert check.advice is not None and "PHOTOGPT_BATCH_ASSETS=s3://" in check.advice


def test_a_bad_address_fails_with_the_form_to_use() -> None:
    check = check_store("https://bucket/prefix", {}, sandbox=False)
    assert check.verdict == "fail" and "not an s3://BUCKET/PREFIX address" in check.summary
    assert check.advice is not None and "s3://BUCKET/PREFIX" in check.advice


def test_a_missing_bucket_fails_and_says_to_check_the_endpoint_and_bucket(s3_env: str) -> None:
    check = check_store("s3://no-such-bucket-here/x", {}, sandbox=False)
    assert check.verdict == "fail", check
    assert check.summary.startswith("cannot write: s3://no-such-bucket-here/x") and "NoSuchBucket" in check.summary
    assert check.advice is not None and "AWS_ENDPOINT_URL" in check.advice and "bucket" in check.advice


def test_an_unreachable_endpoint_fails(monkeypatch: pytest.MonkeyPatch, s3_env: str,
                                       refused_port: tuple[int, object]) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{refused_port[0]}")
    check = check_store(f"s3://{s3_env}/x", {}, sandbox=False)
    assert check.verdict == "fail" and check.summary.startswith("cannot look up an object:"), check
    assert check.advice is not None and "AWS_ENDPOINT_URL" in check.advice


@pytest.mark.slow
def test_refused_credentials_fail_and_name_the_credentials(wrong_store_credentials: str) -> None:
    check = check_store("s3://photos-bucket/doctor", {}, sandbox=False)
    assert check.verdict == "fail", check
    assert check.advice is not None and "AWS_ACCESS_KEY_ID" in check.advice and "s3:" in check.advice


def test_doctor_json_reports_the_store(s3_env: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["doctor", "--sandbox", "--assets", f"s3://{s3_env}/cli", "--json"])
    assert result.exit_code == 0, result.output
    store = next(c for c in json.loads(result.output)["checks"] if c["name"] == "store")
    assert store["verdict"] == "ok" and store["summary"].startswith(f"s3://{s3_env}/cli:")


def test_doctor_text_shows_a_failing_store_and_what_to_do(s3_env: str) -> None:
    result = CliRunner().invoke(cli, ["doctor", "--sandbox", "--assets", "s3://no-such-bucket-here/x"])
    assert result.exit_code == 1, result.output
    line = next(line for line in result.output.splitlines() if line.split()[1:2] == ["store"])
    assert line.startswith("fail ")
    assert "→ check AWS_ENDPOINT_URL" in result.output
