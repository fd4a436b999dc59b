"""The benchmark scripts in bench/ run end to end at a tiny size, so they do not rot between full runs.

Each script runs as a child process, as a person would run it, against its own sandbox process on 127.0.0.1;
the full-size runs (and their targets) stay manual: see bench/RESULTS.md.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"

# Every test here runs a benchmark script in its own process.
pytestmark = pytest.mark.slow


def run_script(script: str, *args: str, timeout: float = 60) -> dict[str, Any]:
    """Run ``bench/<script> ARGS --json``; its JSON report (the test fails with its stderr on a bad exit)."""
    proc = subprocess.run([sys.executable, str(BENCH / script), *args, "--json"], capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout)
    assert report["machine"]["nproc"] and report["command"].startswith("python bench/")
    return report


def test_throughput_bench_verifies_every_video_of_the_tool_and_the_baselines() -> None:
    report = run_script("bench_engine.py", "--jobs", "12", "--generation", "0.1,0.3", "--prepare", "0.1",
                        "--vendor-jobs", "1", "--vendor-poll", "0.1", "--vendor-download-poll", "0.1")
    results = {r["name"]: r for r in report["results"]}
    assert set(results) == {"photogpt-batch", "hand-written aiohttp", "hand-written + ledger, sha256, fsync",
                            "vendor sequential"}
    for r in results.values():
        assert (r["verified"], r["lost"], r["corrupt"], r["exit_code"]) == (r["jobs"], 0, 0, 0), r
        assert r["ideal"] > 0 and r["wall"] > 0 and r["rss_mb"] > 0 and r["cpu"] > 0
    assert results["photogpt-batch"]["requests"]["POST /videos/generation"] == 12


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_download_bench_compares_with_curl_and_verifies_the_file() -> None:
    report = run_script("bench_downloads.py", "--bytes", "20000000", "--repeat", "1")
    assert report["verified"] is True
    assert report["tool"][0]["bytes"] == report["curl"][0]["bytes"] == 20_000_000
    assert report["ratio"] > 0 and report["rssGrowthMb"] < 20


def test_scale_bench_measures_status_plan_and_transitions() -> None:
    report = run_script("bench_scale.py", "--jobs", "2000", "--transition-jobs", "100", "--run-jobs", "60")
    assert report["jobs"] == 2000
    assert all(c["exit"] == 0 for c in report["commands"].values())
    [run] = report["run"]  # a fresh run of 60 jobs on the sandbox, then a rerun with nothing to do
    assert run["jobs"] == 60 and run["fresh"]["succeeded"] == run["rerun"]["succeeded"] == 60
    assert run["fresh"]["exit"] == run["rerun"]["exit"] == 0 and run["rerun"]["rss_mb"] > 0
    assert all(rate > 0 for rate in report["transitionsPerSecond"].values())


def test_kill_loop_loses_nothing_and_submits_nothing_twice() -> None:
    report = run_script("torture.py", "kill-loop", "--jobs", "20", "--kills", "3", "--generation", "0.2,0.5",
                        "--min-delay", "0.3", "--max-delay", "0.8")
    # A kill is either landed on a running process, or not needed because every job was already settled (all in
    # doubt after the first kill caught every POST on the wire): never missed while there was work to cut.
    assert report["killsLanded"] >= 1 and report["killsLanded"] + report["killsNotNeeded"] == 3
    assert (report["lost"], report["silentDuplicates"], report["corrupt"], report["manifestProblems"]) == (0, 0, 0, 0)
    assert report["videosVerified"] == 20 and report["ok"] is True


def test_kill_loop_across_a_three_stage_chain_keeps_order_and_pays_once() -> None:
    report = run_script("torture.py", "kill-loop", "--jobs", "18", "--chain", "3", "--kills", "3", "--generation",
                        "0.2,0.5", "--min-delay", "0.3", "--max-delay", "1.5")
    assert report["killsLanded"] >= 1 and report["killsLanded"] + report["killsNotNeeded"] == 3
    assert (report["lost"], report["silentDuplicates"], report["corrupt"], report["manifestProblems"]) == (0, 0, 0, 0)
    assert report["chainOrder"] == [] and report["videosVerified"] == 18 and report["ok"] is True


def test_pipeline_bench_sends_each_final_after_its_draft() -> None:
    report = run_script("bench_pipeline.py", "--drafts", "20", "--finals", "4", "--generation", "0.1,0.3",
                        "--prepare", "0.1")
    assert report["verified"] == 24 and report["finalsSentEarly"] == 0 and report["exit"] == 0
    assert report["criticalPath"] > 0 and report["ideal"] >= report["criticalPath"] and report["targetMet"] is True


def test_edit_loop_follows_every_paid_version_to_its_end() -> None:
    # Kills late enough that POSTs are answered: each kill leaves a version submitted (paid), then the spec changes.
    report = run_script("torture.py", "edit-loop", "--jobs", "12", "--kills", "2", "--generation", "1,2",
                        "--min-delay", "1.0", "--max-delay", "1.6")
    assert report["killsLanded"] == 2
    assert (report["lost"], report["silentDuplicates"], report["corrupt"], report["manifestProblems"]) == (0, 0, 0, 0)
    assert report["abandoned"] == [] and report["finalExit"] == 0 and report["ok"] is True


def test_fault_soak_loses_nothing_and_submits_nothing_twice_silently() -> None:
    report = run_script("torture.py", "soak", "--jobs", "30", "--seed", "1", "--generation", "0.1,0.3",
                        "--prepare", "0.1")
    assert (report["lost"], report["silentDuplicates"], report["corrupt"], report["manifestProblems"]) == (0, 0, 0, 0)
    assert report["videosVerified"] == 30 and report["ok"] is True
    assert report["faults"], "the soak must actually inject faults"


def test_cpu_ab_runs_both_versions_in_turn() -> None:
    report = run_script("ab_cpu.py", "--jobs", "5", "--rounds", "1", timeout=120)
    assert [len(report["runs"][side]) for side in ("A", "B")] == [1, 1]
    assert all(run["cpuMsPerJob"] > 0 for side in ("A", "B") for run in report["runs"][side])


def test_catalog_bench_measures_local_files_uploads_and_rows_against_a_matrix() -> None:
    report = run_script("bench_catalog.py", "--rows", "20", "--upload", "10", "--big", "1", "--compare", "200",
                        timeout=180)
    assert set(report["specLayer"]) == {"validate cold", "validate warm", "plan --json cold", "plan --json warm"}
    assert all(r["exit"] == 0 for r in (*report["specLayer"].values(), *report["rowsVsMatrix"].values()))
    assert report["upload"]["small"]["files"] == 10 and report["upload"]["large"]["files"] == 1
    assert report["upload"]["large"]["mbPerSecond"] > 0
