"""Scale: the 100,000-job spec through `status` and `plan` on a full ledger, and ledger transitions per second.

    python bench/bench_scale.py                    # 100,000 jobs (+ bench_specs.py for validate / plan)
    python bench/bench_scale.py --jobs 2000 --transition-jobs 200 --json

1. The spec layer (``validate``, ``plan --json`` on a fresh folder): measured by ``bench_specs.py``, run here as
   it is and its table included.
2. A ledger of N jobs in which every job went the whole way (submitting → submitted → succeeded, its video
   preparing → ready → downloaded: 6 transitions each) is built through `Ledger.write` in batches of 1,000
   jobs, durability on (WAL, ``synchronous=FULL``); then ``status --json``, ``status`` and ``plan --json`` run
   on it, each in its own process (wall time, CPU, peak RSS from ``wait4``).
3. Ledger transitions per second through the engine's path (``await ledger.mark_...``, group commit, each
   caller resumed only once its transition is durable): one caller at a time (every transition its own
   fsync'd commit), and 64 concurrent callers (one job's 6 transitions each), as the engine does.
4. ``run`` at scale (``--run-jobs``, 20,000 by default with the full size; ``--run-jobs 20000 100000`` for both
   targets): a fresh run of the same matrix spec cut to N jobs on the sandbox (in a process of its own,
   generation made fast, small files), then a rerun with nothing to do; each in its own process (wall time,
   CPU, peak RSS from ``wait4``).
   Targets: peak RSS ≤ 120 MB at 20,000 jobs and ≤ 250 MB at 100,000; the rerun ≤ 2 s at 20,000 jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BENCH,
    SandboxProc,
    cli_argv,
    emit,
    fmt,
    md_table,
    run_measured,
    sandbox_config,
    tool_env,
    verdict,
)

FULL_SIZE = 100_000
BATCH_JOBS = 1000
#: ``run`` at scale: the sandbox's generation made fast (the run measures the tool, not the waiting), small files.
RUN_GENERATION = (0.05, 0.2)
RUN_PREPARE = 0.02
RUN_VIDEO_BYTES = 2_000
#: The issue's targets for ``run`` at scale: peak RSS (MB) by jobs, and a rerun's wall time (s) at 20,000 jobs.
TARGET_RUN_RSS_MB = {20_000: 120.0, 100_000: 250.0}
TARGET_RERUN_S = {20_000: 2.0}


def spec_layer(jobs: int) -> tuple[str, int]:
    """bench_specs.py's own table (another engineer's script, run unchanged)."""
    proc = subprocess.run([sys.executable, str(BENCH / "bench_specs.py"), "--jobs", str(jobs)], capture_output=True,
                          text=True, check=False)
    return (proc.stdout.strip() or proc.stderr.strip()[-2000:]), proc.returncode


def full_path_ops(row: int, index: int, job_id: str) -> list[Any]:
    """The 6 transitions of a job that went the whole way."""
    from photogpt_batch.ledger import JobState, JobTransition, VideoState, VideoTransition

    video = f"vid_{index:08x}"
    return [
        JobTransition(row, JobState.SUBMITTING),
        JobTransition(row, JobState.SUBMITTED, remote_id=f"job_{index:016x}"),
        JobTransition(row, JobState.SUCCEEDED, video_ids=(video,), credits=40.0),
        VideoTransition(row, 1, VideoState.PREPARING),
        VideoTransition(row, 1, VideoState.READY, url=f"http://127.0.0.1:1/files/{video}.mp4?expires=1&sig=x"),
        VideoTransition(row, 1, VideoState.DOWNLOADED, path=f"{job_id}/1.mp4", bytes=200_000,
                        sha256=f"{index:064x}"),
    ]


def build_ledger(spec: Path, output: Path) -> dict[str, float]:
    """Register every job of the spec and take each through the full path, in batches; timings."""
    from photogpt_batch.ledger import Ledger
    from photogpt_batch.spec.load import load_campaign

    started = time.perf_counter()
    campaign = load_campaign(spec)
    loaded = time.perf_counter()
    ids = [job.id for job in campaign.jobs]

    async def take_through(ledger: Any, rows: dict[str, int]) -> int:
        transitions = 0
        for first in range(0, len(ids), BATCH_JOBS):
            ops = [op for i, job_id in enumerate(ids[first:first + BATCH_JOBS], first)
                   for op in full_path_ops(rows[job_id], i, job_id)]
            await ledger.write(*ops)
            transitions += len(ops)
        return transitions

    with Ledger.open_for_run(output) as ledger:
        rows = ledger.register(campaign.jobs)
        registered = time.perf_counter()
        transitions = asyncio.run(take_through(ledger, rows))
        done = time.perf_counter()
    return {"jobs": len(ids), "load": loaded - started, "register": registered - loaded,
            "transitions": transitions, "commit": done - registered}


def planned_jobs(n: int) -> list[Any]:
    from photogpt_batch.campaign import PlannedJob, content_hash

    jobs = []
    for i in range(n):
        body = {"modelID": "veo-3.1-fast", "prompt": f"ledger bench {i}"}
        jobs.append(PlannedJob(f"t{i:06d}", "veo-3.1-fast", body, content_hash(body)))
    return jobs


async def _job_path(ledger: Any, row: int, index: int) -> None:
    await ledger.mark_submitting(row)
    await ledger.mark_submitted(row, f"job_{index:016x}")
    await ledger.mark_succeeded(row, [f"vid_{index:08x}"], 40.0)
    await ledger.mark_video_preparing(row, 1)
    await ledger.mark_video_ready(row, 1, "http://127.0.0.1:1/files/x.mp4?expires=1&sig=x")
    await ledger.mark_video_downloaded(row, 1, f"t{index:06d}/1.mp4", 200_000, f"{index:064x}")


async def _transitions(output: Path, jobs: int, concurrency: int, url: str | None = None) -> float:
    import uuid

    from photogpt_batch.ledger import Ledger

    # On a shared ledger, a campaign of its own per measurement: nothing recorded earlier is in the way.
    ledger = Ledger.open_for_run(output, url=url, campaign=f"bench-scale-{uuid.uuid4().hex[:8]}")
    try:
        rows = ledger.register(planned_jobs(jobs))
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int, row: int) -> None:
            async with gate:
                await _job_path(ledger, row, i)

        started = time.perf_counter()
        await asyncio.gather(*(one(i, rows[f"t{i:06d}"]) for i in range(jobs)))
        return time.perf_counter() - started
    finally:
        await ledger.aclose()


def run_at_scale(jobs: int, tmp: Path) -> dict[str, Any]:
    """A fresh ``run`` of ``jobs`` one-video jobs on a sandbox process, then a rerun with nothing to do: wall,
    CPU and peak RSS of each (the tool's own process), and both exit codes."""
    folder = tmp / f"run-{jobs}"
    folder.mkdir()
    spec, out = folder / "run.yaml", folder / "out"
    # The 100,000-job spec's matrix cut to N jobs (as `status` and `plan` above), in a campaign of its own per
    # measurement: the campaign index would refuse a fresh start of a campaign paid in another folder.
    from bench_specs import campaign_yaml, shape

    text = campaign_yaml(*shape(jobs)).replace("campaign: bench\n", f"campaign: bench-run-{uuid.uuid4().hex[:8]}\n")
    spec.write_text(text, encoding="utf-8")
    cfg = sandbox_config(generation=RUN_GENERATION, prepare=RUN_PREPARE, video_bytes=RUN_VIDEO_BYTES, queue=0.0)
    argv = [*cli_argv(), "run", str(spec), "--output", str(out), "--concurrency", "64", "--downloads", "16",
            "--rate", "10000", "--quiet", "--json"]
    result: dict[str, Any] = {"jobs": jobs}
    with SandboxProc(cfg) as sb:
        for label in ("fresh", "rerun"):
            m = run_measured(argv, env=tool_env(sb.api), cwd=folder)
            summary = m.json() or {}
            result[label] = {"wall": m.wall, "cpu": m.cpu, "rss_mb": m.maxrss_mb, "exit": m.returncode,
                             "complete": summary.get("complete"),
                             "succeeded": summary.get("succeeded"), "stderr": m.stderr[-1500:] if m.returncode else ""}
    shutil.rmtree(folder, ignore_errors=True)
    rss_target, rerun_target = TARGET_RUN_RSS_MB.get(jobs), TARGET_RERUN_S.get(jobs)
    result["targets"] = {"rss_mb": rss_target, "rerun_s": rerun_target}
    result["pass"] = ((rss_target is None or max(result["fresh"]["rss_mb"], result["rerun"]["rss_mb"]) <= rss_target)
                      and (rerun_target is None or result["rerun"]["wall"] <= rerun_target))
    return result


def _run_rows(runs: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for r in runs:
        rss_target, rerun_target = r["targets"]["rss_mb"], r["targets"]["rerun_s"]
        for label in ("fresh", "rerun"):
            m = r[label]
            target = [f"≤ {rss_target:.0f} MB" if rss_target else ""]
            if label == "rerun" and rerun_target:
                target.append(f"≤ {rerun_target:g} s")
            ok = (rss_target is None or m["rss_mb"] <= rss_target) and (
                label == "fresh" or rerun_target is None or m["wall"] <= rerun_target)
            rows.append([f"`run`, {r['jobs']:,} jobs, {label}", fmt(m["wall"]), fmt(m["cpu"]), fmt(m["rss_mb"], 0),
                         m["exit"], ", ".join(t for t in target if t) or "-",
                         verdict(ok) if any(target) else "-"])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=FULL_SIZE, help="jobs in the spec and the ledger")
    parser.add_argument("--transition-jobs", type=int, default=2000,
                        help="jobs taken through the awaited path (6 transitions each) with 64 callers")
    parser.add_argument("--no-spec-layer", action="store_true", help="skip bench_specs.py")
    parser.add_argument("--ledger", metavar="URL", help="also measure the awaited transitions on this shared "
                        "PostgreSQL ledger")
    parser.add_argument("--run-jobs", type=int, nargs="*", metavar="N",
                        help="`run` at scale: a fresh run of N jobs on the sandbox, then a rerun with nothing to do "
                        "(default: a fifth of --jobs, 20,000 at the full size; none: skip)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    run_sizes = [max(1, args.jobs // 5)] if args.run_jobs is None else args.run_jobs
    sys.path.insert(0, str(BENCH))
    from bench_specs import campaign_yaml, shape

    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        spec_table, spec_rc = ("(skipped)", 0) if args.no_spec_layer else spec_layer(args.jobs)
        prompts, seeds = shape(args.jobs)
        spec = tmp / "bench.yaml"
        spec.write_text(campaign_yaml(prompts, seeds), encoding="utf-8")
        output = tmp / "out"
        built = build_ledger(spec, output)
        ledger_mb = sum(p.stat().st_size for p in (output / ".photogpt-batch").iterdir()) / 1e6
        commands = {}
        for label, extra in (("status --json", ["status", "--json"]), ("status", ["status"]),
                             ("plan --json", ["plan", "--json"])):
            m = run_measured([*cli_argv(), *extra, str(spec), "--output", str(output)], cwd=tmp)
            commands[label] = {"wall": m.wall, "cpu": m.cpu, "rss_mb": m.maxrss_mb, "exit": m.returncode,
                               "stdout_mb": len(m.stdout) / 1e6}
        sequential_jobs = max(1, args.transition_jobs // 8)
        seq = asyncio.run(_transitions(tmp / "seq", sequential_jobs, 1))
        conc = asyncio.run(_transitions(tmp / "conc", args.transition_jobs, 64))
        shared = None
        if args.ledger:
            shared = (asyncio.run(_transitions(tmp / "pg-seq", sequential_jobs, 1, args.ledger)),
                      asyncio.run(_transitions(tmp / "pg-conc", args.transition_jobs, 64, args.ledger)))
        runs = [run_at_scale(n, tmp) for n in run_sizes]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    jobs = built["jobs"]
    rates = {
        "batched": built["transitions"] / built["commit"],
        "one caller": 6 * sequential_jobs / seq,
        "64 callers": 6 * args.transition_jobs / conc,
    }
    shared_rows = []
    if shared is not None:
        rates["PostgreSQL, one caller"] = 6 * sequential_jobs / shared[0]
        rates["PostgreSQL, 64 callers"] = 6 * args.transition_jobs / shared[1]
        shared_rows = [
            ["shared PostgreSQL ledger (--ledger), one caller", f"{6 * sequential_jobs:,}", fmt(shared[0]),
             f"{rates['PostgreSQL, one caller']:,.0f}"],
            ["shared PostgreSQL ledger (--ledger), 64 concurrent callers", f"{6 * args.transition_jobs:,}",
             fmt(shared[1]), f"{rates['PostgreSQL, 64 callers']:,.0f}"]]
    body = "\n".join([
        "Spec layer (bench_specs.py):", "", spec_table, "",
        md_table([f"on a ledger of {jobs:,} done jobs ({ledger_mb:,.0f} MB)", "wall s", "CPU s", "peak RSS MB",
                  "output MB", "exit"],
                 [[f"`photogpt-batch {label}`", fmt(c["wall"]), fmt(c["cpu"]), fmt(c["rss_mb"], 0),
                   fmt(c["stdout_mb"], 1), c["exit"]] for label, c in commands.items()]),
        "",
        md_table(["ledger transitions, durability on (WAL, synchronous=FULL)", "transitions", "seconds",
                  "transitions/s"], [
            [f"`await ledger.write` batches of {BATCH_JOBS:,} jobs × 6 (building the ledger above)",
             f"{built['transitions']:,}", fmt(built["commit"]), f"{rates['batched']:,.0f}"],
            ["`await ledger.mark_…`, one caller (each transition its own commit)", f"{6 * sequential_jobs:,}",
             fmt(seq), f"{rates['one caller']:,.0f}"],
            ["`await ledger.mark_…`, 64 concurrent callers (group commit, as the engine)",
             f"{6 * args.transition_jobs:,}", fmt(conc), f"{rates['64 callers']:,.0f}"],
            *shared_rows,
        ]),
        "",
        f"Building it: load the spec {fmt(built['load'])} s, register {jobs:,} jobs {fmt(built['register'])} s.",
        *(["", md_table(["`run` on the sandbox (own process; generation "
                         f"U{RUN_GENERATION}, {RUN_VIDEO_BYTES:,}-byte files)", "wall s", "CPU s", "peak RSS MB",
                         "exit", "target", "verdict"], _run_rows(runs))] if runs else []),
    ])
    emit(f"Scale: {jobs:,}-job spec, status and plan on a full ledger, ledger transitions", body,
         {"jobs": jobs, "specLayer": spec_table, "build": built, "ledgerMb": ledger_mb, "commands": commands,
          "transitionsPerSecond": rates, "run": runs}, args.json)
    failed_runs = any(r[label]["exit"] != 0 for r in runs for label in ("fresh", "rerun"))
    return 1 if spec_rc or failed_runs or any(c["exit"] not in (0,) for c in commands.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
