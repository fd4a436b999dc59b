"""Torture: kill -9 a run over and over, and soak a run in faults; then prove nothing was lost, paid twice or corrupted.

    python bench/torture.py kill-loop --jobs 300 --kills 20     # SIGKILL at random (seeded) moments, then resume
    python bench/torture.py soak --jobs 1000                    # 5% 429, 5% 5xx, 2% lost POSTs, 10% truncated
                                                                # downloads, 3% failed generations
    python bench/torture.py kill-loop --jobs 20 --kills 3 --json  # what the smoke test runs
    python bench/torture.py takeover-loop --ledger postgresql://... --jobs 100 --takeovers 10
    python bench/torture.py edit-loop --jobs 100 --kills 8      # kill -9, then edit every prompt, and again
    python bench/torture.py kill-loop --jobs 300 --kills 20 --slow-clock 400  # every other run 400 s slow
    python bench/torture.py kill-loop --jobs 300 --kills 20 --chain 3   # 100 chains of 3: a graph, killed
    python bench/torture.py budget-soak --jobs 40               # a budget while GET /jobs reports credits: null
                                                                # and the first POST is lost (502)

One sandbox process serves the whole experiment, so its state (jobs, payload counts) survives every restart of
the tool. The tool runs as ``photogpt-batch run`` in a child process each time.

- kill-loop: each run is SIGKILLed after a random delay; a kill is *not needed* (rather than missed) when the run
  ended by itself with nothing left to do, every job done, failed or in doubt; then it is rerun without flags until
  it stops making progress (jobs whose POST was cut off by a kill stay ``in_doubt``: they are never resubmitted
  silently);
  then once with ``--resubmit-in-doubt``, the user's decision.
- takeover-loop (the shared ledger at ``--ledger``): each run is frozen (SIGSTOP) after a random delay, often
  while waiting out a 429's Retry-After; once its lock is stale the next run takes it over, and then the frozen
  one is woken (SIGCONT): it must stop, sending nothing more. The last run is left to finish; then as kill-loop.
- edit-loop: the kill-loop, with every prompt edited after each kill, so the versions a kill left in flight
  (submitted: paid) are replaced by the spec. Each must still be followed to its end: every job the server ran
  that the ledger knows has its videos on disk and in the manifest (in ``<job>/v<k>/`` for an earlier version),
  and none is sent again. Reruns without flags, then with ``--resubmit-in-doubt`` (which closes an earlier
  version in doubt, unsent).
- ``--chain N`` (any mode): the jobs form chains of N, each job after the first of its chain needing the one
  before it (``needs:``): the kills land across a graph. Besides the checks below, no job may have been sent
  before the job it needs had its video downloaded (from the ledger's times).
- ``--slow-clock SECONDS`` (any mode): every other run of the tool, the first included, runs with its clock that
  many seconds slow (Debian's libfaketime preloaded; the sandbox keeps the true clock): in-doubt submissions one
  clock recorded are judged by runs on the other, and must still never be paid twice.
- soak: one run, then reruns with ``--retry-failed --resubmit-in-doubt`` (what a user does after reading the
  summary) until complete.
- budget-soak: with ``--max-credits`` and a sandbox whose ``GET /jobs`` reports ``credits: null`` and whose first
  POST is lost (the job is created, the answer is a 502): a run, a rerun, then a run with the class's price
  stated (``--price``). Each run must end by itself (exit 1 while jobs are held back), at most one job of the
  unpriced class may go per run before the price is stated, and what the sandbox billed must stay within the
  budget.

Then every expected video is checked: present, its sha256 equal to the ledger's, the manifest's and that of
the bytes the sandbox served, its top-level MP4 boxes tiling the file. *Silent duplicate submissions* are
request bodies the sandbox created more jobs for than the user allowed: one, plus one per rerun in which the
user's flag covered that job (it was ``failed`` with ``--retry-failed``, or ``in_doubt`` with
``--resubmit-in-doubt``). Lost videos, silent duplicates and corrupt files must all be 0.
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    SandboxProc,
    body_key,
    chain_order_violations,
    cli_argv,
    emit,
    fmt,
    ledger_progress,
    ledger_states,
    md_table,
    payloads_created,
    run_measured,
    sandbox_config,
    tool_env,
    verdict,
    verify_output,
    write_campaign,
)

#: Debian's libfaketime (``apt-get install faketime``), for ``--slow-clock``.
LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), None)

SOAK_FAULTS = {"rate_limit_rate": 0.05, "server_error_rate": 0.05, "lost_post_rate": 0.02, "truncate_rate": 0.10,
               "fail_rate": 0.03}


@dataclass
class Experiment:
    """One sandbox, one campaign, many runs of the tool against them."""

    args: argparse.Namespace
    sandbox: SandboxProc
    tmp: Path
    name: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    allowed: Counter[str] = field(default_factory=Counter)
    approved_resubmissions: int = 0
    ledger_url: str | None = None  # the shared ledger (campaign `name`), else the output folder's

    def env(self) -> dict[str, str]:
        """The tool's environment: the sandbox, and the shared ledger with a short lock timeout if one is used."""
        env = tool_env(self.sandbox.api)
        if self.ledger_url:
            env.update(PHOTOGPT_BATCH_LEDGER=self.ledger_url, PHOTOGPT_BATCH_LOCK_TIMEOUT=str(LOCK_TIMEOUT))
        return env

    def argv(self, output: Path, *flags: str) -> list[str]:
        """``photogpt-batch run`` of this experiment's campaign into ``output``."""
        tool = self.args.tool.split() if self.args.tool else cli_argv()
        return [*tool, "run", str(self.spec), "--output", str(output), "--concurrency", str(self.args.concurrency),
                "--downloads", str(self.args.downloads), "--rate", "1000", "--quiet", "--json", *flags]

    def states(self) -> dict[str, str]:
        """Each job's ledger state."""
        return ledger_states(self.output, self.ledger_url, self.name)

    def __post_init__(self) -> None:
        self.output = self.tmp / "out"
        self.spec = self.tmp / f"{self.name}.yaml"
        self.jobs = write_campaign(self.spec, self.args.jobs, self.name, self.output, chain=self.args.chain)
        self.bodies = {job_id: body_key(body) for job_id, body in self.jobs}
        self.allowed.update(self.bodies.values())

    def run(self, *flags: str, kill_after: float | None = None, label: str = "") -> dict[str, Any]:
        """One ``photogpt-batch run``; flags widen what the user allowed to be submitted again."""
        states = self.states()
        for job_id, state in states.items():
            if (state == "failed" and "--retry-failed" in flags) or (
                    state == "in_doubt" and "--resubmit-in-doubt" in flags):
                self.allowed[self.bodies[job_id]] += 1
                self.approved_resubmissions += 1
        env = self.env()
        slow = self.args.slow_clock and len(self.runs) % 2 == 0
        if slow:
            # Preloaded rather than through the faketime command, which forks: SIGKILL must reach the tool.
            env.update(LD_PRELOAD=str(LIBFAKETIME), FAKETIME=f"-{self.args.slow_clock:g}s",
                       FAKETIME_DONT_FAKE_MONOTONIC="1")
        measured = run_measured(self.argv(self.output, *flags), env=env, cwd=self.tmp, kill_after=kill_after,
                                timeout=self.args.run_timeout)
        summary = measured.json() if not measured.killed else None
        entry = {
            "label": (label or ("run " + " ".join(flags)).strip()) + (" (slow clock)" if slow else ""),
            "killed": measured.killed,
            "after": round(measured.wall, 3),
            "exit": measured.returncode,
            "progress": ledger_progress(self.output, self.ledger_url, self.name),
            "traceback": "Traceback" in measured.stderr,
            "summary": _short(summary),
            "stderr": measured.stderr[-800:] if measured.returncode not in (0, 1, -9) or "Traceback" in
            measured.stderr else "",
        }
        self.runs.append(entry)
        return entry

    def edit(self, take: int) -> None:
        """Edit every prompt of the spec (a new version of each job): the new bodies are allowed once each."""
        self.jobs = write_campaign(self.spec, self.args.jobs, self.name, self.output, take=take,
                                   chain=self.args.chain)
        self.bodies = {job_id: body_key(body) for job_id, body in self.jobs}
        self.allowed.update(self.bodies.values())

    def duplicates(self) -> dict[str, Any]:
        """Payload counts from the sandbox against what the user allowed."""
        created = payloads_created(self.sandbox.jobs())
        silent = {b: n - self.allowed[b] for b, n in created.items() if n > self.allowed[b]}
        unknown = sum(n for b, n in created.items() if b not in self.allowed)
        extra = sum(n - 1 for n in created.values() if n > 1)
        return {"created": sum(created.values()), "silent": sum(silent.values()), "unknownBodies": unknown,
                "approvedDuplicates": extra - sum(silent.values()), "examples": list(silent)[:3]}


def _short(summary: Any) -> dict[str, Any] | None:
    if not isinstance(summary, dict):
        return None
    return {"complete": summary.get("complete"), "succeeded": summary.get("succeeded"),
            "downloaded": summary.get("videos", {}).get("downloaded"), "failed": len(summary.get("failed", [])),
            "inDoubt": len(summary.get("inDoubt", [])), "videoFailures": len(summary.get("videoFailures", []))}


def settle(exp: Experiment, flags: tuple[str, ...], rounds: int) -> None:
    """Rerun until complete (exit 0) or until a run changes nothing."""
    for _ in range(rounds):
        before = exp.runs[-1]["progress"] if exp.runs else None
        entry = exp.run(*flags)
        if entry["exit"] == 0 or (entry["progress"] == before and before is not None):
            return


def finish(exp: Experiment, expect_all: bool = True) -> dict[str, Any]:
    """Verify the output folder and the sandbox's payload counts (``expect_all``: every job's videos, else
    those of the jobs that generated)."""
    states = exp.states()
    wanted = [job_id for job_id, _ in exp.jobs if expect_all or states.get(job_id) == "succeeded"]
    check = verify_output(exp.output, wanted, exp.sandbox.jobs(), exp.args.video_bytes,
                          ledger_url=exp.ledger_url, campaign=exp.name if exp.ledger_url else None)
    counters = exp.sandbox.counters()
    return {
        "verification": check,
        "chainOrder": chain_order_violations(exp.output, [job_id for job_id, _ in exp.jobs], exp.args.chain,
                                             exp.ledger_url, exp.name if exp.ledger_url else None),
        "duplicates": exp.duplicates(),
        "faults": counters.get("faults", {}),
        "credentialedFileRequests": counters.get("credentialedFileRequests", 0),
        "tracebacks": sum(r["traceback"] for r in exp.runs),
    }


def nothing_left(progress: dict[str, int], jobs: int, waiting: int = 0) -> bool:
    """Whether a plain rerun has nothing to do: every job registered and settled (succeeded with its video on
    disk, failed, or in doubt, or, with ``--chain``, ``waiting``: planned behind a job that is not done and
    cannot be without a flag), so a run ends by itself before a kill can land."""
    settled = sum(progress.get(state, 0) for state in ("succeeded", "failed", "in_doubt")) + waiting
    return settled == jobs and progress.get("videos_downloaded", 0) >= progress.get("succeeded", 0)


def waiting_behind(exp: Experiment) -> int:
    """With ``--chain``: the planned jobs whose chain has a job in doubt or failed before them (they wait, or are
    blocked, until the user's flag settles it)."""
    if exp.args.chain <= 1:
        return 0
    states = exp.states()
    ids = [job_id for job_id, _ in exp.jobs]
    held = 0
    for i, job_id in enumerate(ids):
        if states.get(job_id) != "planned" or i % exp.args.chain == 0:
            continue
        k = i - 1
        while k % exp.args.chain and states.get(ids[k]) == "planned":
            k -= 1
        held += states.get(ids[k]) in ("in_doubt", "failed")
    return held


def kill_loop(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    cfg = sandbox_config(seed=args.seed, generation=args.generation, prepare=args.prepare,
                         video_bytes=args.video_bytes)
    with SandboxProc(cfg) as sb:
        exp = Experiment(args, sb, tmp, "torture-kill")
        not_needed = 0
        for k in range(args.kills):
            delay = rng.uniform(args.min_delay, args.max_delay)
            if exp.runs and nothing_left(exp.runs[-1]["progress"], args.jobs, waiting_behind(exp)):
                # Every job is done, failed or in doubt (never resubmitted without a flag): a run would end before
                # any kill could land, so the kills left are not needed rather than missed.
                not_needed += args.kills - k
                break
            entry = exp.run(kill_after=delay, label=f"kill {k + 1}")
            # A run that ended by itself, leaving nothing to do, had nothing for this kill to cut (typically the
            # run after a kill that caught every POST on the wire: it only records them in doubt).
            not_needed += not entry["killed"] and nothing_left(entry["progress"], args.jobs, waiting_behind(exp))
        kills_landed = sum(r["killed"] for r in exp.runs)
        settle(exp, (), args.max_resumes)
        before_flag = exp.duplicates()
        in_doubt_jobs = [j for j, s in exp.states().items() if s == "in_doubt"]
        created = payloads_created(sb.jobs())
        in_doubt_existing = sum(1 for j in in_doubt_jobs if created[exp.bodies[j]] >= 1)
        if in_doubt_jobs:
            settle(exp, ("--resubmit-in-doubt",), args.max_resumes)
        result = finish(exp)
    result.update({"killsLanded": kills_landed, "killsNotNeeded": not_needed,
                   "silentBeforeFlags": before_flag["silent"], "inDoubt": len(in_doubt_jobs),
                   "inDoubtExisting": in_doubt_existing, "runs": exp.runs,
                   "approvedResubmissions": exp.approved_resubmissions})
    return result


#: The takeover loop's lock timeout (seconds): a frozen run's lock is taken over soon after.
LOCK_TIMEOUT = 1
#: Its faults: 429s (Retry-After 1 s) on a fifth of the POSTs, so that runs are often frozen waiting one out.
TAKEOVER_FAULTS = {"rate_limit_rate": 0.2, "rate_limit_routes": ["POST /videos/generation"], "retry_after_seconds": 1}


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def takeover_loop(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from photogpt_batch.ledger import pg_admin

    rng = random.Random(args.seed)
    cfg = sandbox_config(seed=args.seed, generation=args.generation, prepare=args.prepare,
                         video_bytes=args.video_bytes, faults=TAKEOVER_FAULTS)
    with SandboxProc(cfg) as sb:
        # A campaign of its own on the shared database, so that repeats never resume each other.
        exp = Experiment(args, sb, tmp, f"torture-takeover-{uuid.uuid4().hex[:8]}", ledger_url=args.ledger)

        def holder_pid() -> int | None:
            try:
                found = pg_admin.lock_holder(args.ledger, exp.name)
            except Exception:  # the first run has not created the ledger's tables yet
                return None
            return found.pid if found is not None and not found.stale else None

        def launch(k: int) -> subprocess.Popen[str]:
            return subprocess.Popen(exp.argv(tmp / f"machine-{k % 2}"), env=exp.env(), cwd=tmp, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        woken: list[dict[str, Any]] = []
        current = launch(0)
        for k in range(args.takeovers):
            # The delay counts from when the run holds the lock (starting the tool takes a while).
            _wait(lambda t=current: holder_pid() == t.pid or t.poll() is not None, 60)
            time.sleep(rng.uniform(args.min_delay, args.max_delay))
            if current.poll() is not None or holder_pid() != current.pid:
                break  # it finished (or never got the lock): nothing left to take over
            current.send_signal(signal.SIGSTOP)
            _wait(lambda: holder_pid() is None, 30)
            taker = launch(k + 1)
            _wait(lambda t=taker: holder_pid() == t.pid or t.poll() is not None, 60)
            current.send_signal(signal.SIGCONT)
            out, err = current.communicate(timeout=args.run_timeout)
            said = out + err  # with --json, why it stopped is in the summary on stdout
            woken.append({"exit": current.returncode, "stopped": current.returncode != 0 and (
                "lost the lock" in said or "cannot be reached" in said), "traceback": "Traceback" in err})
            current = taker
        current.communicate(timeout=args.run_timeout)
        settle(exp, (), args.max_resumes)
        before_flag = exp.duplicates()
        in_doubt_jobs = [j for j, s in exp.states().items() if s == "in_doubt"]
        if in_doubt_jobs:
            settle(exp, ("--resubmit-in-doubt",), args.max_resumes)
        result = finish(exp)
    result.update({"takeovers": len(woken), "wokenStopped": sum(w["stopped"] for w in woken),
                   "woken": woken, "silentBeforeFlags": before_flag["silent"], "inDoubt": len(in_doubt_jobs),
                   "runs": exp.runs, "approvedResubmissions": exp.approved_resubmissions})
    result["tracebacks"] += sum(w["traceback"] for w in woken)
    return result


def abandoned_versions(output: Path, sandbox_jobs: list[dict[str, Any]]) -> tuple[list[str], int]:
    """The paid versions left behind: jobs the server ran to success, known to the ledger (any version), whose
    videos are not all in the manifest; and how many of the server's jobs the ledger does not know (a kill cut
    off the POST's answer: in doubt, never adopted)."""
    from photogpt_batch.ledger import Ledger

    with Ledger.open_for_reading(output) as ledger:
        known = ledger.remote_ids()
    path = output / "manifest.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    listed = Counter(json.loads(line).get("jobId") for line in lines)
    abandoned = [f"server job {j['jobId']}: {listed[j['jobId']]} of {len(j['videoIds'])} videos in the manifest"
                 for j in sandbox_jobs
                 if j["jobId"] in known and not j["fails"] and listed[j["jobId"]] < len(j["videoIds"])]
    return abandoned, sum(j["jobId"] not in known for j in sandbox_jobs)


def edit_loop(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    cfg = sandbox_config(seed=args.seed, generation=args.generation, prepare=args.prepare,
                         video_bytes=args.video_bytes)
    with SandboxProc(cfg) as sb:
        exp = Experiment(args, sb, tmp, "torture-edit")
        for k in range(args.kills):
            exp.run(kill_after=rng.uniform(args.min_delay, args.max_delay), label=f"kill {k + 1}")
            exp.edit(k + 1)
        kills_landed = sum(r["killed"] for r in exp.runs)
        settle(exp, (), args.max_resumes)
        before_flag = exp.duplicates()
        if exp.runs[-1]["exit"] != 0:  # in doubt, current or earlier: the user's decision
            settle(exp, ("--resubmit-in-doubt",), args.max_resumes)
        result = finish(exp)
        abandoned, unknown = abandoned_versions(exp.output, sb.jobs())
    result.update({"killsLanded": kills_landed, "silentBeforeFlags": before_flag["silent"], "runs": exp.runs,
                   "approvedResubmissions": exp.approved_resubmissions, "abandoned": abandoned,
                   "unknownToLedger": unknown, "finalExit": exp.runs[-1]["exit"]})
    return result


def soak(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    faults = {k: getattr(args, k) for k in SOAK_FAULTS}
    cfg = sandbox_config(seed=args.seed, generation=args.generation, prepare=args.prepare,
                         video_bytes=args.video_bytes, faults=faults)
    with SandboxProc(cfg) as sb:
        exp = Experiment(args, sb, tmp, "torture-soak")
        first = exp.run(label="run")
        before_flag = exp.duplicates()
        if first["exit"] != 0:
            settle(exp, ("--retry-failed", "--resubmit-in-doubt"), args.max_resumes)
        result = finish(exp)
    result.update({"silentBeforeFlags": before_flag["silent"], "runs": exp.runs, "faultRates": faults,
                   "approvedResubmissions": exp.approved_resubmissions})
    return result


BUDGET_CLASS = "veo-3.1-fast 720p 8 s"  # the campaign's price class; the sandbox bills it 40 credits a video


def budget_soak(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    faults = {"no_credits": True, "lost_post_nth": [1], "lost_post_mode": "error", "lost_post_status": 502}
    cfg = sandbox_config(seed=args.seed, generation=args.generation, prepare=args.prepare,
                         video_bytes=args.video_bytes, faults=faults)
    budget = args.budget if args.budget is not None else 40.0 * (args.jobs // 2)
    posts: list[int] = []
    with SandboxProc(cfg) as sb:
        exp = Experiment(args, sb, tmp, "torture-budget")
        for flags in ((), (), ("--price", f"{BUDGET_CLASS}=40")):
            exp.run("--max-credits", str(budget), *flags, label=("run " + " ".join(flags)).strip())
            posts.append(len(sb.jobs()))
        billed = sum(job.get("credits") or 0 for job in sb.jobs())
        result = finish(exp, expect_all=False)
    unpriced_runs = [b - a for a, b in zip([0, *posts], posts[:-1], strict=False)]  # the runs without --price
    result.update({"runs": exp.runs, "budget": budget, "billed": billed, "jobsCreatedPerRun": posts,
                   "unpricedPerRun": unpriced_runs, "approvedResubmissions": exp.approved_resubmissions,
                   "silentBeforeFlags": result["duplicates"]["silent"],
                   "endedByThemselves": all(not r["killed"] and r["exit"] in (0, 1) for r in exp.runs)})
    return result


def render(mode: str, args: argparse.Namespace, result: dict[str, Any]) -> tuple[str, bool]:
    check = result["verification"]
    dup = result["duplicates"]
    run_rows = []
    for r in result["runs"]:
        p = r["progress"]
        s = r["summary"] or {}
        run_rows.append([r["label"], "SIGKILL" if r["killed"] else r["exit"], fmt(r["after"]),
                         p.get("succeeded", 0), p.get("submitted", 0) + p.get("submitting", 0), p.get("in_doubt", 0),
                         p.get("failed", 0), p.get("videos_downloaded", 0), s.get("videoFailures", "-")])
    runs = md_table(["run", "exit", "after s", "jobs succeeded", "in flight", "in doubt", "failed",
                     "videos on disk", "video failures (this run)"], run_rows)
    ok = (check.ok and dup["silent"] == 0 and result["tracebacks"] == 0 and result["credentialedFileRequests"] == 0
          and not result["chainOrder"])
    checks = [
        ["lost videos", len(check.lost), verdict(not check.lost)],
        ["silent duplicate submissions", dup["silent"], verdict(dup["silent"] == 0)],
        ["corrupt files (bytes, sha256 vs ledger/manifest/served, MP4 boxes)", len(check.corrupt),
         verdict(not check.corrupt)],
        ["manifest disagreements", len(check.manifest_problems), verdict(not check.manifest_problems)],
        ["tracebacks in any run's output", result["tracebacks"], verdict(result["tracebacks"] == 0)],
        ["requests carrying the key to the file host", result["credentialedFileRequests"],
         verdict(result["credentialedFileRequests"] == 0)],
        ["jobs sent before the job they need was downloaded (--chain)", len(result["chainOrder"]),
         verdict(not result["chainOrder"])],
        ["videos verified", f"{check.videos_verified}/{check.videos_expected}", "-"],
        ["duplicates the user approved (--retry-failed / --resubmit-in-doubt)", dup["approvedDuplicates"], "-"],
        ["jobs the sandbox created / bodies in the campaign", f"{dup['created']} / {args.jobs}", "-"],
        ["leftover .part files / files set aside", f"{check.leftover_parts} / {check.set_aside}", "-"],
    ]
    if mode == "budget-soak":
        within = result["billed"] <= result["budget"]
        alone = all(n <= 1 for n in result["unpricedPerRun"])
        checks += [["billed by the sandbox / budget", f"{result['billed']} / {result['budget']}", verdict(within)],
                   ["jobs sent per run while the price was unknown", result["unpricedPerRun"], verdict(alone)],
                   ["runs that ended by themselves", f"{len(result['runs'])}", verdict(result["endedByThemselves"])]]
        ok = ok and within and alone and result["endedByThemselves"]
    elif mode == "edit-loop":
        checks[1:1] = [["silent duplicates before any flag", result["silentBeforeFlags"],
                        verdict(result["silentBeforeFlags"] == 0)],
                       ["paid versions abandoned (ran on the server, known to the ledger, videos not all kept)",
                        len(result["abandoned"]), verdict(not result["abandoned"])],
                       ["last run's exit (0: every version, earlier ones included, finished)", result["finalExit"],
                        verdict(result["finalExit"] == 0)]]
        checks += [["kills that landed (process still running)", f"{result['killsLanded']}/{args.kills}",
                    verdict(result["killsLanded"] >= args.kills)],
                   ["server jobs the ledger never learned (POST answer cut off: in doubt)",
                    result["unknownToLedger"], "-"]]
        ok = (ok and not result["abandoned"] and result["finalExit"] == 0 and result["silentBeforeFlags"] == 0
              and result["killsLanded"] >= args.kills)
    elif mode == "kill-loop":
        checks[1:1] = [["silent duplicates before any flag", result["silentBeforeFlags"],
                        verdict(result["silentBeforeFlags"] == 0)]]
        kills_ok = result["killsLanded"] >= 1 and result["killsLanded"] + result["killsNotNeeded"] >= args.kills
        checks += [["kills that landed (process still running) / not needed (nothing left to do)",
                    f"{result['killsLanded']}/{args.kills} / {result['killsNotNeeded']}", verdict(kills_ok)],
                   ["jobs in doubt after the kills (created on the server / never arrived)",
                    f"{result['inDoubt']} ({result['inDoubtExisting']} / "
                    f"{result['inDoubt'] - result['inDoubtExisting']})",
                    "-"]]
        ok = ok and kills_ok and result["silentBeforeFlags"] == 0
    elif mode == "takeover-loop":
        checks[1:1] = [["silent duplicates before any flag", result["silentBeforeFlags"],
                        verdict(result["silentBeforeFlags"] == 0)]]
        stopped = result["wokenStopped"] == result["takeovers"]
        checks += [["frozen runs taken over, then woken: stopped (lost the lock)",
                    f"{result['wokenStopped']}/{result['takeovers']}", verdict(stopped)],
                   ["jobs in doubt after the takeovers", result["inDoubt"], "-"]]
        ok = ok and stopped and result["silentBeforeFlags"] == 0
    else:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(result["faults"].items()))
        checks += [["faults fired", faults, "-"]]
    problems = (check.lost + check.corrupt + check.manifest_problems + dup["examples"]
                + result.get("abandoned", []) + result["chainOrder"])[:10]
    stderr = [f"{r['label']}: {r['stderr']}" for r in result["runs"] if r["stderr"]][:3]
    body = "\n".join([runs, "", md_table(["check", "result", "verdict"], checks),
                      *(["", "Problems:", *[f"- {p}" for p in problems]] if problems else []),
                      *(["", "stderr:", *stderr] if stderr else [])])
    return body, ok


def parse_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("kill-loop", "edit-loop", "takeover-loop", "soak", "budget-soak"):
        p = sub.add_parser(mode)
        p.add_argument("--jobs", type=int, default={"edit-loop": 100, "soak": 1000, "budget-soak": 40}.get(mode, 300))
        p.add_argument("--seed", type=int, default=7)
        p.add_argument("--generation", type=parse_range, default=(0.5, 2.0), metavar="MIN,MAX")
        p.add_argument("--prepare", type=float, default=0.3)
        p.add_argument("--video-bytes", type=int, default=200_000)
        p.add_argument("--concurrency", type=int, default=64)
        p.add_argument("--downloads", type=int, default=16)
        p.add_argument("--max-resumes", type=int, default=8, help="reruns after the kills / the first run, at most")
        p.add_argument("--run-timeout", type=float, default=900.0)
        p.add_argument("--tool", metavar="COMMAND", help="how to start photogpt-batch (default: the installed "
                       "script), e.g. to check a patched build")
        p.add_argument("--json", action="store_true")
        p.add_argument("--chain", type=int, default=1, metavar="N",
                       help="chains of N jobs, each needing the one before it (a graph to resume across)")
        p.add_argument("--slow-clock", type=float, default=0.0, metavar="SECONDS",
                       help="every other run with its clock this many seconds slow (needs libfaketime)")
        if mode in ("kill-loop", "edit-loop"):
            p.add_argument("--kills", type=int, default=20 if mode == "kill-loop" else 8)
            p.add_argument("--min-delay", type=float, default=0.2, help="earliest kill, seconds after the start")
            p.add_argument("--max-delay", type=float, default=1.2, help="latest kill, seconds after the start")
        elif mode == "takeover-loop":
            p.add_argument("--ledger", metavar="URL", required=True, help="the shared PostgreSQL ledger to use")
            p.add_argument("--takeovers", type=int, default=10)
            p.add_argument("--min-delay", type=float, default=0.5, help="earliest freeze, seconds after the start")
            p.add_argument("--max-delay", type=float, default=2.0, help="latest freeze, seconds after the start")
        elif mode == "budget-soak":
            p.add_argument("--budget", type=float, help="--max-credits (default: half the campaign, 40 a job)")
        else:
            for kind, rate in SOAK_FAULTS.items():
                p.add_argument("--" + kind.replace("_", "-"), dest=kind, type=float, default=rate)
    args = parser.parse_args(argv)
    if args.slow_clock and LIBFAKETIME is None:
        parser.error("--slow-clock needs libfaketime (apt-get install faketime)")
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-torture-{args.mode}-"))
    try:
        result = {"kill-loop": kill_loop, "edit-loop": edit_loop, "takeover-loop": takeover_loop,
                  "soak": soak, "budget-soak": budget_soak}[args.mode](args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    body, ok = render(args.mode, args, result)
    kills = getattr(args, "kills", 0)  # the dict's f-strings are all evaluated: not every mode has --kills
    title = {"kill-loop": f"Torture: kill -9 loop, {args.jobs} jobs, {kills} kills",
             "edit-loop": f"Torture: kill -9 then edit every prompt, {args.jobs} jobs, {kills} kills",
             "takeover-loop": f"Torture: lock takeovers of frozen runs, {args.jobs} jobs, shared ledger",
             "soak": f"Torture: fault soak, {args.jobs} jobs",
             "budget-soak": f"Torture: budget soak, {args.jobs} jobs, credits null, first POST lost"}[args.mode]
    check = result.pop("verification")
    emit(title, body, {**result, "lost": len(check.lost), "corrupt": len(check.corrupt),
                       "manifestProblems": len(check.manifest_problems), "videosVerified": check.videos_verified,
                       "silentDuplicates": result["duplicates"]["silent"], "ok": ok,
                       "problems": (check.lost + check.corrupt + check.manifest_problems)[:20]}, args.json)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
