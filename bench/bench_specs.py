"""Benchmark the spec layer on a large matrix campaign: `validate` and `plan --json`, wall time and peak RSS.

The campaign is one matrix job: prompts × models × seeds (500 × 4 × 50 = 100,000 jobs by default), each job
with its own prompt and seed, so every job has a distinct request body. Each command runs in a fresh
subprocess; its peak RSS comes from ``wait4``'s resource usage of that child alone.

    python bench/bench_specs.py                 # 100,000 jobs, checked against the targets
    python bench/bench_specs.py --jobs 2000     # a quick run (tests use this to keep the script working)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import cli_argv

#: Models whose options take ``seed``, so one matrix over them is valid.
MODELS = ("veo-3.1", "veo-3.1-fast", "seedance-1.5-pro", "seedance-2.0")
SEEDS_PER_PROMPT = 50
#: Targets on the project's 2-core machine, for the full 100,000-job campaign.
TARGETS = {"validate": 10.0, "plan --json": 20.0}
TARGET_RSS_MB = 400.0
FULL_SIZE = 500 * len(MODELS) * SEEDS_PER_PROMPT

ADJECTIVES = ("amber", "frosted", "matte", "glossy", "recycled", "hand-blown", "smoked", "ceramic", "brushed", "bamboo")
PRODUCTS = ("serum bottle", "perfume flask", "tea tin", "candle jar", "soda can", "watch", "sneaker", "lamp",
            "backpack", "headphones")
SCENES = ("on wet stone", "on a sunlit shelf", "in falling snow", "on a marble counter", "in a forest clearing")


@dataclass(frozen=True)
class Result:
    """One measured command."""

    command: str
    seconds: float
    rss_mb: float
    exit_code: int


def shape(jobs: int) -> tuple[int, int]:
    """(prompts, seeds) so that prompts × 4 models × seeds is ``jobs`` (rounded up to a whole matrix)."""
    seeds = min(SEEDS_PER_PROMPT, max(1, jobs // len(MODELS)))
    prompts = max(1, -(-jobs // (len(MODELS) * seeds)))
    return prompts, seeds


def prompt_text(i: int) -> str:
    """The i-th distinct prompt."""
    adjective = ADJECTIVES[i % len(ADJECTIVES)]
    product = PRODUCTS[(i // len(ADJECTIVES)) % len(PRODUCTS)]
    scene = SCENES[(i // (len(ADJECTIVES) * len(PRODUCTS))) % len(SCENES)]
    return f"cinematic close-up of a {adjective} {product} {scene}, take {i}"


def campaign_yaml(prompts: int, seeds: int) -> str:
    """The benchmark campaign: one matrix job over prompt texts, models and seeds."""
    lines = [
        "# yaml-language-server: $schema=../schemas/campaign.schema.json",
        "version: 1",
        "campaign: bench",
        "jobs:",
        '  - id: "{model}-s{seed}-{prompt_i}"',
        '    prompt: "{prompt_i}"',
        "    matrix:",
        "      prompt_i:",
        *(f'        - "{prompt_text(i)}"' for i in range(prompts)),
        "      model: [" + ", ".join(MODELS) + "]",
        "      seed: [" + ", ".join(str(1000 + s) for s in range(seeds)) + "]",
        "    options:",
        '      seed: "{seed}"',
    ]
    return "\n".join(lines) + "\n"


def measure(label: str, argv: list[str], cwd: Path) -> Result:
    """Run ``argv`` in a fresh process with stdout to /dev/null; wall time and that child's peak RSS."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=devnull, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(stderr.decode(errors="replace")[-4000:])
    return Result(label, seconds, usage.ru_maxrss / 1024, proc.returncode)


def run(jobs: int, repeat: int) -> tuple[int, list[Result]]:
    """Write the campaign and measure each command ``repeat`` times; the best time (and its RSS) of each."""
    prompts, seeds = shape(jobs)
    total = prompts * len(MODELS) * seeds
    cli = cli_argv()
    with tempfile.TemporaryDirectory(prefix="bench-specs-") as tmp:
        spec = Path(tmp) / "bench.yaml"
        spec.write_text(campaign_yaml(prompts, seeds), encoding="utf-8")
        results = []
        for label, args in (("validate", ["validate", str(spec)]), ("plan --json", ["plan", "--json", str(spec)])):
            runs = [measure(label, [*cli, *args], Path(tmp)) for _ in range(repeat)]
            results.append(min(runs, key=lambda r: r.seconds))
    return total, results


def table(total: int, results: list[Result], check: bool) -> str:
    """The results as a markdown table (with the targets when the campaign is full size)."""
    rows = [f"Spec layer on {total:,} jobs (python {sys.version.split()[0]}, {os.cpu_count()} cores)", "",
            "| command | wall s | peak RSS MB | exit | target |", "|---|---:|---:|---:|---|"]
    for r in results:
        target = f"≤ {TARGETS[r.command]:.0f} s, ≤ {TARGET_RSS_MB:.0f} MB" if check else "-"
        rows.append(f"| `photogpt-batch {r.command}` | {r.seconds:.2f} | {r.rss_mb:.0f} | {r.exit_code} | {target} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 when a command fails, or misses a target at full size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=FULL_SIZE, help=f"jobs in the campaign (default {FULL_SIZE:,})")
    parser.add_argument("--repeat", type=int, default=1, help="runs per command; the fastest is shown")
    args = parser.parse_args(argv)
    total, results = run(args.jobs, max(1, args.repeat))
    check = total >= FULL_SIZE
    print(table(total, results, check))
    failed = any(r.exit_code != 0 for r in results)
    missed = check and any(r.seconds > TARGETS[r.command] or r.rss_mb > TARGET_RSS_MB for r in results)
    if missed:
        print("\nmissed a target", file=sys.stderr)
    return 1 if failed or missed else 0


if __name__ == "__main__":
    sys.exit(main())
