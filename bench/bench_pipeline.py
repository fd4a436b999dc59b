"""A pipeline: N drafts, and M finals each needing one draft, in one run on the sandbox, against its ideal.

    python bench/bench_pipeline.py                 # 500 drafts → 50 finals, 64 in flight
    python bench/bench_pipeline.py --drafts 40 --finals 4 --generation 0.1,0.3 --json

Final k needs draft ``k × drafts / finals`` (every tenth draft at full size), so the finals' drafts are spread
through the campaign: the last of them starts only when the drafts before it have made room. A final is sent as
soon as its draft's video is downloaded, while the other drafts are still in flight.

The ideal comes from the generation times the sandbox actually drew, as in ``bench_engine.py``; it is the larger of
two lower bounds: the bulk bound (Σ generation of every job / concurrency + the longest job), and the critical
path (the longest draft → final chain: each job's queue + generation + download preparation, end to end). Every
file is checked against the bytes the sandbox served, and each final's POST must come after its draft's video was
recorded as downloaded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    MODEL,
    SandboxProc,
    api_requests,
    cli_argv,
    emit,
    fmt,
    ideal,
    md_table,
    run_measured,
    sandbox_config,
    tool_env,
    verdict,
    verify_output,
)

TARGET_RATIO = 1.2
FULL_DRAFTS = 500


def parse_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def write_pipeline(path: Path, output: Path, drafts: int, finals: int) -> tuple[list[str], dict[str, str]]:
    """Write the campaign; returns every job's id, and each final's draft."""
    width = max(4, len(str(drafts)))
    step = max(1, drafts // finals)
    pairs = {f"final-{k:0{width}d}": f"draft-{k * step:0{width}d}" for k in range(1, finals + 1)}
    ids = [f"draft-{i:0{width}d}" for i in range(1, drafts + 1)]
    lines = ["version: 1", "campaign: bench-pipeline", f"output: {json.dumps(str(output))}",
             f"defaults:\n  model: {MODEL}", "jobs:"]
    lines += [f"  - id: {job_id}\n    prompt: {json.dumps(prompt_of(job_id))}" for job_id in ids]
    lines += [f"  - id: {final}\n    prompt: {json.dumps(prompt_of(final))}\n    needs: {draft}"
              for final, draft in pairs.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [*ids, *pairs], pairs


def prompt_of(job_id: str) -> str:
    """Each job's prompt: distinct, and telling its id back from the sandbox's record of the request."""
    return f"bench pipeline {job_id}"


def critical_path(server_jobs: list[dict[str, Any]], pairs: dict[str, str], prepare: float) -> float:
    """The longest draft → final chain, from the drawn times: each job's queue + generation + preparation."""
    by_id = {json.loads(job["body"])["prompt"].rsplit(" ", 1)[-1]: job for job in server_jobs}

    def span(job: dict[str, Any]) -> float:
        return float(job["finishedAt"] - job["createdAt"]) + prepare

    return max((span(by_id[d]) + span(by_id[f]) for f, d in pairs.items() if f in by_id and d in by_id),
               default=0.0)


def order_violations(output: Path, pairs: dict[str, str]) -> list[str]:
    """Finals whose POST was recorded before their draft's video was downloaded (there should be none)."""
    from photogpt_batch.ledger import Ledger

    with Ledger.open_for_reading(output) as ledger:
        records = {r.job_id: r for r in ledger.jobs()}
    wrong = []
    for final, draft in pairs.items():
        f, d = records.get(final), records.get(draft)
        if f is None or d is None or f.submitted_at is None:
            continue
        downloaded = max((v.updated_at for v in d.videos), default=0.0)
        if not d.videos or f.submitted_at < downloaded:
            wrong.append(f"{final} was sent at {f.submitted_at:.3f}, before {draft} was downloaded")
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drafts", type=int, default=FULL_DRAFTS)
    parser.add_argument("--finals", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--generation", type=parse_range, default=(0.5, 2.0), metavar="MIN,MAX")
    parser.add_argument("--prepare", type=float, default=0.3)
    parser.add_argument("--video-bytes", type=int, default=200_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        out, spec = tmp / "out", tmp / "pipeline.yaml"
        ids, pairs = write_pipeline(spec, out, args.drafts, args.finals)
        cfg = sandbox_config(seed=args.seed, generation=args.generation, prepare=args.prepare,
                             video_bytes=args.video_bytes)
        with SandboxProc(cfg) as sb:
            argv_ = [*cli_argv(), "run", str(spec), "--concurrency", str(args.concurrency), "--rate", str(args.rate),
                     "--quiet", "--json"]
            sb.reset_counters()
            measured = run_measured(argv_, env=tool_env(sb.api), cwd=tmp)
            counters, server_jobs = sb.counters(), sb.jobs()
            check = verify_output(out, ids, server_jobs, args.video_bytes)
        bulk = ideal(server_jobs, args.concurrency, args.prepare)
        chain = critical_path(server_jobs, pairs, args.prepare)
        best = max(bulk.seconds, chain)
        wrong = order_violations(out, pairs)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    requests = api_requests(counters)
    jobs = args.drafts + args.finals
    ratio = measured.wall / best if best else float("nan")
    per_video = sum(requests.values()) / max(1, check.videos_verified)
    table = md_table(["jobs", "wall s", "bulk bound s", "critical path s", "ideal s", "× ideal", "req/video",
                      "CPU s", "peak RSS MB", "videos verified", "finals sent early", "exit"],
                     [[f"{args.drafts} → {args.finals}", fmt(measured.wall), fmt(bulk.seconds), fmt(chain),
                       fmt(best), fmt(ratio), fmt(per_video), fmt(measured.cpu), fmt(measured.maxrss_mb, 0),
                       f"{check.videos_verified}/{jobs}", len(wrong), measured.returncode]])
    correct = not wrong and check.ok and measured.returncode == 0
    judged = args.drafts >= FULL_DRAFTS  # the time target is judged at full size only, as bench_engine's are
    ok = correct and (ratio <= TARGET_RATIO or not judged)
    body = "\n".join([table, "", f"wall ≤ {TARGET_RATIO} × ideal: "
                      f"{verdict(ratio <= TARGET_RATIO) if judged else '(small N)'}; every final "
                      f"after its draft: {verdict(not wrong)}; every video verified: {verdict(check.ok)}",
                      *wrong[:5], *check.lost[:5], *check.corrupt[:5],
                      *([measured.stderr[-1500:]] if measured.returncode else [])])
    emit(f"Pipeline: {args.drafts} drafts → {args.finals} finals, {args.concurrency} in flight", body,
         {"drafts": args.drafts, "finals": args.finals, "wall": measured.wall, "bulkBound": bulk.seconds,
          "criticalPath": chain, "ideal": best, "ratio": round(ratio, 3), "requests": requests,
          "requestsPerVideo": round(per_video, 3), "cpu": measured.cpu, "rssMb": measured.maxrss_mb,
          "verified": check.videos_verified, "finalsSentEarly": len(wrong), "exit": measured.returncode,
          "targetMet": ok}, args.json)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
