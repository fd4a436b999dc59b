"""The plan view (`plan.Plan`) as text and as JSON: what ``plan`` and ``plan --json`` print."""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from ..io.jsonstream import write_json

if TYPE_CHECKING:
    from ..ledger import ReconciledJob
    from ..spend.pricing import Estimate
    from .plan import Plan


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as JSON: campaign, output, counts, skipped ids (left out by ``--only``), ledger (location,
    shared, lock holder), the estimate (``{credits, priced, unknown}``), jobs (id, model, state, contentHash,
    request, remote id when known, warnings, estimatedCredits, and for a changed job its diff) and orphaned
    ids; ``upload``: the local files the jobs to submit would stage, at most (`plan_upload.PlannedUpload`), or
    null; ``stages`` (only when jobs need others): the jobs to submit by stage (`spend.stages.Stage`)."""
    return {**_head(plan), "jobs": [_entry_json(plan, item) for item in plan.reconciliation.jobs],
            "orphaned": plan.orphaned}


def write_plan_json(stream: IO[str], plan: Plan) -> None:
    """What ``plan --json`` prints (`plan_json`, indented), streamed one job at a time: 100,000 request bodies
    need not sit in memory twice."""
    write_json(stream, {**_head(plan), "jobs": [], "orphaned": plan.orphaned}, "jobs",
               (_entry_json(plan, item) for item in plan.reconciliation.jobs))


def _head(plan: Plan) -> dict[str, Any]:
    head: dict[str, Any] = {"campaign": plan.campaign.name, "output": str(plan.campaign.output),
                            "counts": plan.counts(), "skipped": plan.campaign.skipped}
    if plan.ledger is not None:
        head["ledger"] = plan.ledger.to_json()
    head["estimate"] = plan.estimate().to_json()
    upload = plan.upload()
    head["upload"] = upload.to_json() if upload is not None else None
    head.update(_stages_json(plan))
    return head


def _stages_json(plan: Plan) -> dict[str, Any]:
    """``{"stages": [...]}`` when the campaign's jobs need others; nothing otherwise, so the JSON of a campaign
    without needs is what it always was."""
    return {"stages": [stage.to_json() for stage in plan.stages]} if plan.campaign.needs else {}


def _entry_json(plan: Plan, item: ReconciledJob) -> dict[str, Any]:
    job = item.planned
    assert job is not None
    entry: dict[str, Any] = {"id": job.id, "model": job.model, "state": str(item.disposition),
                             "contentHash": job.content_hash, "request": job.body,
                             "warnings": list(job.warnings), "estimatedCredits": plan.estimated_credits(item)}
    if item.record is not None and item.record.content_hash == job.content_hash and item.record.remote_id:
        entry["jobId"] = item.record.remote_id
    if (ready := plan.readiness.get(item.job_id)) is not None:  # waiting or blocked, with why
        entry.update({"readiness": ready.state, "why": ready.why})
    if item.job_id in plan.diffs:
        entry["diff"] = [change.to_json() for change in plan.diffs[item.job_id]]
    return entry


def print_plan(plan: Plan, paid_elsewhere: Path | None = None) -> None:
    """The plan as text: one line per job (and under a changed one, what changed), the orphans, the counts, where
    the ledger is (on stderr), then what ``run`` would pay and upload. ``paid_elsewhere``: the folder that holds the
    campaign's paid jobs when this one holds none (`campaign_index.paid_elsewhere`), noted on stderr."""
    campaign = plan.campaign
    width = max((len(j.id) for j in campaign.jobs), default=2)
    for item in plan.reconciliation.jobs:
        job = item.planned
        assert job is not None
        ready = plan.readiness.get(job.id)
        if ready is not None:  # `run` would not send it yet: say why instead
            click.echo(f"{ready.state:<9} {job.id:<{width}}  {ready.why}")
        else:
            click.echo(f"{item.disposition!s:<9} {job.id:<{width}}  {job.model:<22} "
                       f"{job.num_videos} video{'s' * (job.num_videos != 1)}")
        for change in plan.diffs.get(job.id, ()):
            click.echo(f"{'':<9}   ~ {change.describe()}")
    for orphan in plan.orphaned:
        click.echo(f"{'orphaned':<9} {orphan:<{width}}  (in the ledger, no longer in the spec; nothing is deleted)")
    counts = ", ".join(f"{n} {state}" for state, n in plan.counts().items())
    skipped = f", {len(campaign.skipped)} skipped (--only)" if campaign.skipped else ""
    click.echo(f"{campaign.name}: {len(campaign.jobs)} jobs ({counts}){skipped}; output {campaign.output}")
    if plan.ledger is not None:  # on stderr, like the notes: stdout keeps the format scripts read
        click.echo(plan.ledger.describe(), err=True)
    if paid_elsewhere:
        click.echo(f"note: campaign {campaign.name!r} already has paid jobs in {paid_elsewhere}: `run` would start "
                   "over here, paying again (it refuses without --fresh); --output points it there", err=True)
    click.echo(spend_line(plan.counts().get("new", 0), plan.counts().get("changed", 0), plan.estimate()))
    print_stages(plan)
    upload = plan.upload()
    if upload is not None:
        click.echo(upload.describe())


def print_stages(plan: Plan) -> None:
    """One line per stage of the jobs ``run`` would submit (`spend.stages.Stage.describe`), when there are stages."""
    for stage in plan.stages:
        click.echo(stage.describe())


def spend_line(new: int, changed: int, estimate: Estimate) -> str:
    """``42 new, 3 changed · ≈ 3,360 credits (36 priced from 118 past jobs, 9 unknown)``."""
    return f"{new} new, {changed} changed · {estimate.describe()}"
