"""CPU per job of two versions of photogpt-batch, in interleaved runs: did a change make a difference?

    python bench/ab_cpu.py --a a7648ed --b HEAD --rounds 8 --pin     # two commits, 8 runs each, pinned
    python bench/ab_cpu.py --jobs 20 --rounds 1 --json                # this tree against itself (a smoke run)

CPU time on a shared VM varies by ±15 % from run to run, more than most single changes are worth, so one run
of each proves nothing. Here the versions take turns (A, B, A, B, ...), each run on a fresh sandbox process
with the same seed, and the report gives every run plus the median and mean of each side. ``--pin`` puts the
tool on CPU 0 and the sandbox on CPU 1, which removes some of the noise from the two sharing a core.

``--a``/``--b`` is a source tree (a folder holding ``photogpt_batch/``) or a git revision of this repository,
checked out for the run with ``git worktree`` and removed afterwards. Only the ``photogpt_batch`` package
comes from that tree; dependencies and the installed plugins come from the active environment.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    REPO,
    SandboxProc,
    compile_bytecode,
    emit,
    fmt,
    md_table,
    run_measured,
    sandbox_config,
    tool_env,
    write_campaign,
)


@contextlib.contextmanager
def source_tree(spec: str) -> Iterator[Path]:
    """``spec`` as a folder to import ``photogpt_batch`` from: itself, or a temporary worktree of a revision."""
    folder = Path(spec)
    if (folder / "photogpt_batch").is_dir():
        yield folder.resolve()
        return
    tmp = Path(tempfile.mkdtemp(prefix="ab-cpu-"))
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(tmp), spec], check=True)
    try:
        yield tmp
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tmp)], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def tool_argv(tree: Path, pin: bool) -> list[str]:
    """Start the CLI with ``photogpt_batch`` imported from ``tree`` (its bytecode compiled first)."""
    compile_bytecode(tree / "photogpt_batch")
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); from photogpt_batch.cli import main; main()"
    return (["taskset", "-c", "0"] if pin else []) + [sys.executable, "-c", code]


def one_run(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One measured ``run`` of an N-job campaign on a fresh sandbox."""
    tmp = Path(tempfile.mkdtemp(prefix="ab-cpu-run-"))
    try:
        with SandboxProc(sandbox_config(seed=args.seed)) as sb:
            if args.pin and sb.proc is not None:
                os.sched_setaffinity(sb.proc.pid, {1})
            write_campaign(tmp / "spec.yaml", args.jobs, "bench-ab", tmp / "out")
            argv = [*tool_argv(tree, args.pin), "run", str(tmp / "spec.yaml"), "--concurrency", "64",
                    "--downloads", "16", "--rate", "1000", "--quiet", "--json"]
            measured = run_measured(argv, env=tool_env(sb.api), cwd=tmp)
        if measured.returncode != 0:
            raise RuntimeError(f"run failed ({measured.returncode}): {measured.stderr[-2000:]}")
        return {"cpuMsPerJob": 1000 * measured.cpu / args.jobs, "user": measured.user, "sys": measured.sys,
                "wall": measured.wall}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", default=str(REPO), help="revision or source tree (default: this tree)")
    parser.add_argument("--b", default=str(REPO), help="revision or source tree (default: this tree)")
    parser.add_argument("--rounds", type=int, default=8, help="runs of each version")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pin", action="store_true", help="tool on CPU 0, sandbox on CPU 1 (needs taskset)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.pin and (shutil.which("taskset") is None or (os.cpu_count() or 1) < 2):
        parser.error("--pin needs taskset and two CPUs")
    runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    with source_tree(args.a) as tree_a, source_tree(args.b) as tree_b:
        for _ in range(args.rounds):
            for side, tree in (("A", tree_a), ("B", tree_b)):
                runs[side].append(one_run(tree, args))
    summary = {side: {"median": statistics.median(r["cpuMsPerJob"] for r in rs),
                      "mean": statistics.mean(r["cpuMsPerJob"] for r in rs),
                      "userMedian": statistics.median(r["user"] for r in rs),
                      "sysMedian": statistics.median(r["sys"] for r in rs)} for side, rs in runs.items()}
    rows = [[f"{side}: `{getattr(args, side.lower())}`", fmt(s["median"]), fmt(s["mean"]), fmt(s["userMedian"]),
             fmt(s["sysMedian"]), ", ".join(fmt(r["cpuMsPerJob"]) for r in runs[side])]
            for side, s in summary.items()]
    body = md_table(["version", "median CPU ms/job", "mean", "user s (median)", "sys s (median)", "each run"], rows)
    emit(f"CPU per job, A against B: {args.rounds} interleaved runs of {args.jobs:,} jobs each", body,
         {"runs": runs, "summary": summary}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
