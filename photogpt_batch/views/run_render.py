"""The run summary (`engine.RunSummary`, what a run achieved) as text and as JSON: the report ``run`` prints as it
ends, and ``run --json``."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from ..campaign import Campaign
from ..spend.pricing import format_credits
from .status_render import EARLIER_STATES, outside

if TYPE_CHECKING:  # the engine computes the summary; rendering it does not need the engine loaded
    from ..engine import RunSummary


def summary_json(campaign: Campaign, summary: RunSummary) -> dict[str, Any]:
    """A run summary as JSON."""
    return {
        "campaign": campaign.name,
        "output": str(campaign.output),
        "complete": summary.complete,
        "interrupted": summary.interrupted,
        "aborted": summary.aborted,
        "jobs": summary.jobs,
        "skipped": campaign.skipped,
        "succeeded": summary.succeeded,
        "videos": {"expected": summary.videos_expected, "downloaded": summary.videos_downloaded},
        "failed": [{"job": j, "error": e} for j, e in summary.failed],
        "videoFailures": [{"video": v, "error": e} for v, e in summary.video_failures],
        "inDoubt": summary.in_doubt,
        "inFlight": summary.in_flight,
        "earlierUnfinished": [{"version": v, "ledgerState": state} for v, state in summary.earlier_unfinished],
        "outsideUnfinished": [{"version": v, "ledgerState": state, "inSpec": in_spec}
                              for v, state, in_spec in summary.outside_unfinished],
        "notSubmitted": summary.not_submitted,
        "waiting": [{"job": j, "why": why} for j, why in summary.waiting],
        "blocked": [{"job": j, "why": why} for j, why in summary.blocked],
        "credits": summary.credits,
        "spend": {
            "run": {"credits": summary.run_credits, "pending": summary.run_credits_pending},
            "campaign": {"credits": summary.credits, "jobs": summary.credits_jobs,
                         "pending": summary.credits_pending},
        },
        "budget": None if summary.budget is None else {
            "credits": summary.budget, "committed": summary.budget_committed,
            "reached": summary.budget_reached, "notSubmitted": summary.budget_not_submitted,
            "priceUnknown": [{"priceClass": name, "reason": reason, "notSubmitted": n}
                             for name, reason, n in summary.budget_unpriced]},
        "estimate": None if summary.preview is None else summary.preview.estimate.to_json(),
        "declined": summary.declined,
        "manifestError": summary.manifest_error,
    }


def spend_text(summary: RunSummary) -> str:
    """``this run 60 credits; campaign 204 credits over 17 jobs (all versions, all runs)``, with the jobs whose
    credits are not known yet (never counted as 0)."""
    run = f"this run {format_credits(summary.run_credits)} credits"
    if summary.run_credits_pending:
        run += f" (+{summary.run_credits_pending} job{'s' * (summary.run_credits_pending != 1)} not priced yet)"
    total = (f"campaign {format_credits(summary.credits or 0)} credits over {summary.credits_jobs} "
             f"job{'s' * (summary.credits_jobs != 1)} (all versions, all runs)")
    if summary.credits_pending:
        total += (f"; {summary.credits_pending} sent job{'s' * (summary.credits_pending != 1)} without credits yet "
                  "(a later run or `status --refresh` asks again)")
    return f"{run}; {total}"


def budget_text(summary: RunSummary) -> list[str]:
    """``budget reached: 980 of 1,000 credits; 12 jobs not submitted``, and per price class the budget could
    not price, ``budget: price unknown for veo-3.1-fast 720p 8 s (the API reports no credits yet); 7 jobs not
    submitted`` (none when the budget kept nothing)."""
    if summary.budget is None:
        return []
    lines = []
    if summary.budget_reached:
        n = summary.budget_not_submitted
        lines.append(f"budget reached: {format_credits(summary.budget_committed)} of "
                     f"{format_credits(summary.budget)} credits; {n} job{'s' * (n != 1)} not submitted. Raise "
                     "--max-credits or the spec's budget and rerun to go on")
    for name, reason, n in summary.budget_unpriced:
        lines.append(f"budget: price unknown for {name} ({reason}); {n} job{'s' * (n != 1)} not submitted. "
                     f"To go on, state its price per video: --price {shlex.quote(f'{name}=CREDITS')}")
    return lines


def print_summary(campaign: Campaign, summary: RunSummary, resume: Sequence[str]) -> None:
    """The closing report of a run, with the command to resume when there is more to do (``resume``: its
    words, quoted here for the shell)."""
    def echo(text: str = "") -> None:
        click.echo(text, err=True)  # the report goes to stderr, beside progress

    if summary.declined:
        echo(f"{campaign.name}: nothing sent (you answered no)")
        return
    echo(f"{campaign.name}: {summary.succeeded}/{summary.jobs} jobs generated, "
         f"{summary.videos_downloaded}/{summary.videos_expected} videos downloaded to {campaign.output}"
         + (f"; {len(campaign.skipped)} jobs skipped (--only)" if campaign.skipped else ""))
    echo(f"  spend: {spend_text(summary)}")
    for line in budget_text(summary):
        echo(f"  {line}")
    for job, error in summary.failed:
        echo(f"  failed     {job}: {error}")
    for job, why in summary.blocked:
        echo(f"  blocked    {job}: {why}")
    for video, error in summary.video_failures:
        echo(f"  not saved  {video}: {error}")
    for job in summary.in_doubt:
        echo(f"  in doubt   {job}: the submission's outcome is unknown; it may exist (and be billed)")
    for version, state in summary.earlier_unfinished:
        echo(f"  earlier    {version}: {EARLIER_STATES.get(state, state)}")
    for version, state, in_spec in summary.outside_unfinished:
        echo(f"  {outside(in_spec)}  {version}: {EARLIER_STATES.get(state, state)}")
    if summary.in_doubt:
        echo("  check the PhotoGPT dashboard, then rerun with --resubmit-in-doubt to submit those jobs again")
    if summary.failed:
        echo("  rerun with --retry-failed to submit failed jobs again (each is a new, billed job)")
    if summary.waiting:
        picks = sum(why.endswith("(not picked)") for _, why in summary.waiting)
        echo(f"  waiting: {len(summary.waiting)} job{'s' * (len(summary.waiting) != 1)} not sent yet, "
             f"{picks} of them for picks (not a failure): "
             + ", ".join(f"{job} {why}" for job, why in summary.waiting[:5])
             + (f" and {len(summary.waiting) - 5} more" if len(summary.waiting) > 5 else ""))
    if summary.manifest_error:
        echo(f"  manifest.jsonl not written: {summary.manifest_error} (the ledger keeps every video; "
             "a rerun writes it)")
    command = shlex.join(resume)
    if summary.aborted:
        echo(f"stopped: {summary.aborted}. Everything sent is recorded; once that is fixed, resume with: {command}")
    elif summary.interrupted:
        echo(f"interrupted: everything sent is recorded. Resume with: {command}")
    elif (summary.in_flight or summary.earlier_unfinished or summary.outside_unfinished
          or (summary.not_submitted and not summary.budget_reached)):
        earlier = len(summary.earlier_unfinished) + len(summary.outside_unfinished)
        echo(f"not finished: {len(summary.in_flight)} in flight, {len(summary.not_submitted)} not submitted"
             + (f", {earlier} earlier version{'s' * (earlier != 1)} not finished" if earlier else "")
             + f". Resume with: {command}")
