"""The status view (`status.StatusReport`) as text and as JSON: what ``status`` and ``status --json`` print; and
the wording of an unfinished version's state, which the run's report (`run_render`) shares."""

from __future__ import annotations

from typing import IO, Any

import click

from ..io.jsonstream import write_json
from ..ledger import JobRecord, ReconciledJob, VideoState
from ..ledger.versions import unfinished
from ..spend.pricing import format_credits
from .status import StatusReport, VersionHistory

#: What an unfinished earlier version's ledger state means, for the run's report and ``status``.
EARLIER_STATES = {
    "submitting": "sent, outcome unknown (the next run treats it as in doubt)",
    "submitted": "sent and paid for; still generating, followed until it ends",
    "in_doubt": "in doubt: it may exist (and be billed); it is never sent again",
    "succeeded": "generated; videos still to download (an earlier version's into its v<k>/ folder)",
}


def outside(in_spec: bool) -> str:
    """Why a run does not hold a job whose versions it still follows."""
    return "left out by --only" if in_spec else "removed from the spec"


def _videos_json(record: JobRecord) -> list[dict[str, Any]]:
    return [{"n": v.n, "videoId": v.video_id, "state": str(v.state), "path": v.path, "bytes": v.bytes,
             "sha256": v.sha256, "error": v.error} for v in record.videos]


def _status_entry(item: ReconciledJob, report: StatusReport) -> dict[str, Any]:
    record = item.record
    entry: dict[str, Any] = {"id": item.job_id, "state": str(item.disposition)}
    if (ready := report.readiness.get(item.job_id)) is not None:  # waiting or blocked, with why
        entry.update({"readiness": ready.state, "why": ready.why})
    if item.planned is not None:
        entry["model"] = item.planned.model
    if record is not None:
        version, earlier = report.history.get(item.job_id, VersionHistory(1, []))
        entry.update({
            "ledgerState": str(record.state), "jobId": record.remote_id, "attempts": record.attempts,
            "error": record.error, "credits": record.credits, "version": version, "videos": _videos_json(record),
            "earlierVersions": [{"version": k, "jobId": r.remote_id, "ledgerState": str(r.state),
                                 "finished": not unfinished(r), "credits": r.credits, "videos": _videos_json(r)}
                                for k, r in earlier],
        })
    return entry


def _status_head(report: StatusReport) -> dict[str, Any]:
    return {
        "campaign": report.campaign.name,
        "output": str(report.campaign.output),
        "complete": report.complete,
        "waiting": sum(r.state == "waiting" for r in report.readiness.values()),
        "blocked": sum(r.state == "blocked" for r in report.readiness.values()),
        "counts": {str(k): v for k, v in report.reconciliation.counts.items()},
        "skipped": report.campaign.skipped,
        "videos": report.video_counts,
        **({"ledger": report.ledger.to_json()} if report.ledger else {}),
        "picks": report.picks,
        "earlierUnfinished": [{"job": job_id, "version": k, "ledgerState": str(r.state)}
                              for job_id, k, r in report.earlier_unfinished],
        "outsideUnfinished": [{"job": r.job_id, "version": k, "ledgerState": str(r.state), "inSpec": in_spec}
                              for r, k, in_spec in report.outside_unfinished],
        "credits": _credits_json(report),
        "sequences": [{"name": s.name, "state": s.standing, "path": s.path, "jobs": list(s.jobs),
                       "waitingFor": list(s.waiting)} for s in report.sequences],
        "jobs": [],
    }


def _credits_json(report: StatusReport) -> dict[str, Any]:
    credits, priced, pending = report.credits.total
    return {"total": credits if priced else None, "jobs": priced, "pending": pending,
            "perModel": {model: {"credits": c, "jobs": n, "pending": p}
                         for model, (c, n, p) in sorted(report.credits.per_model.items())}}


def status_json(report: StatusReport) -> dict[str, Any]:
    """A status report as JSON: counts per state, and per job its remote id, version, files, errors and
    earlier versions (``earlierVersions``: each with its version number, remote id and files)."""
    items = (*report.reconciliation.jobs, *report.reconciliation.orphaned)
    return {**_status_head(report), "jobs": [_status_entry(item, report) for item in items]}


def write_status_json(stream: IO[str], report: StatusReport) -> None:
    """`status_json`, indented, streamed one job at a time (what ``status --json`` prints)."""
    items = (*report.reconciliation.jobs, *report.reconciliation.orphaned)
    write_json(stream, _status_head(report), "jobs", (_status_entry(item, report) for item in items))


def print_status(report: StatusReport) -> None:
    """The status report as text: one line per job, then the counts."""
    width = max((len(i.job_id) for i in report.reconciliation.jobs), default=2)
    for item in (*report.reconciliation.jobs, *report.reconciliation.orphaned):
        record = item.record
        ready = report.readiness.get(item.job_id)
        line = f"{ready.state if ready else item.disposition!s:<9} {item.job_id:<{width}}"
        if ready is not None:
            line += f"  {ready.why}"
        elif record is not None:
            if record.remote_id:
                line += f"  {record.remote_id}"
            files = [v.path for v in record.videos if v.path and str(v.state) == "downloaded"]
            if files:
                line += "  " + " ".join(files)
            if record.credits is not None:
                line += f"  {format_credits(record.credits)} credits"
            if record.error:
                line += f"  error: {record.error}"
        click.echo(line)
        version, earlier = report.history.get(item.job_id, VersionHistory(1, []))
        for k, old in reversed(earlier):  # newest first, under the current version
            kept = " ".join(v.path for v in old.videos if v.path and v.state == VideoState.DOWNLOADED)
            not_done = f"  not finished: {EARLIER_STATES.get(old.state, old.state)}" if unfinished(old) else ""
            click.echo(f"{'':<9} {'':<{width}}  v{k} (earlier; current is v{version})  {old.remote_id or '-'}"
                       f"  {kept or 'no files'}{not_done}")
    if report.picks is not None:  # recorded from the review page (review --picks)
        picked = ", ".join(p["job"] for p in report.picks["jobs"]) or "none"
        click.echo(f"picked ({report.picks.get('recordedAt') or 'recorded'}): {picked}")
    counts = ", ".join(f"{v} {k}" for k, v in report.reconciliation.counts.items())
    videos = ", ".join(f"{v} {k}" for k, v in sorted(report.video_counts.items()))
    skipped = f"; {len(report.campaign.skipped)} skipped (--only)" if report.campaign.skipped else ""
    for model, (credits, priced, pending) in sorted(report.credits.per_model.items()):
        click.echo(f"credits  {model:<24} {format_credits(credits):>10} over {priced} job{'s' * (priced != 1)}"
                   + (f", {pending} not priced yet" if pending else ""))
    credits, priced, pending = report.credits.total
    click.echo(f"{report.campaign.name}: {counts or 'no jobs'}; videos: {videos or 'none'}{skipped}; "
               f"output {report.campaign.output}")
    for sequence in report.sequences:
        click.echo(f"sequence {sequence.name}: {sequence.describe()}")
    unfinished_earlier = report.earlier_unfinished
    if unfinished_earlier:
        click.echo(f"earlier versions not finished: {len(unfinished_earlier)} ("
                   + ", ".join(f"{job_id} v{k} {r.state}" for job_id, k, r in unfinished_earlier)
                   + "); the next run follows them to their end")
    if report.outside_unfinished:
        click.echo(f"sent versions of jobs not in this view, not finished: {len(report.outside_unfinished)} ("
                   + ", ".join(f"{r.job_id} v{k} {r.state}, {outside(in_spec)}"
                               for r, k, in_spec in report.outside_unfinished)
                   + "); the next run follows them to their end")
    click.echo(f"credits: {format_credits(credits)} in total over {priced} job{'s' * (priced != 1)} (all versions, "
               "all runs)" + (f"; {pending} sent job{'s' * (pending != 1)} without credits yet (status --refresh "
                              "asks the API)" if pending else ""))
    if report.ledger is not None:  # on stderr, like the notes: stdout keeps the format scripts read
        click.echo(report.ledger.describe(), err=True)
