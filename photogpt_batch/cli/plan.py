"""The commands that read the ledger and send nothing (unless ``status --refresh``): ``plan`` shows what ``run``
would do, ``status`` what the ledger holds."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ..errors import EXIT_FAILED, EXIT_OK
from .common import epilog, json_option, load_or_exit, skipped, spec_and_output
from .ledger import ledger_option, resolve_ledger

if TYPE_CHECKING:
    from ..spend.pricing import Estimate

_EXIT_PLAN = "  0    the plan is shown\n  2    bad spec, usage or configuration, or an unreadable ledger"
_EXIT_STATUS = ("  0    every job of the spec is done\n  1    some jobs failed, are in doubt or not finished\n"
                "  2    bad spec, usage or configuration, or an unreadable ledger")


@click.command(epilog=epilog("used by run; plan sends nothing", _EXIT_PLAN))
@spec_and_output
@ledger_option
@json_option("Print the plan as JSON, with every request body.")
def plan(spec: str, output: str | None, only: tuple[str, ...], ledger: str | None, as_json: bool) -> None:
    """Show what `run` would do: each job's id, model, state against the ledger and request. Sends nothing."""
    from ..campaign_index import paid_elsewhere
    from ..planning import make_plan

    campaign = load_or_exit(spec, as_json, output, only)
    the_plan = make_plan(campaign, resolve_ledger(ledger))
    if as_json:
        the_plan.write_json(sys.stdout)  # streamed: 100,000 request bodies need not sit in memory twice
        return
    width = max((len(j.id) for j in campaign.jobs), default=2)
    for item in the_plan.reconciliation.jobs:
        job = item.planned
        assert job is not None
        click.echo(f"{item.disposition!s:<9} {job.id:<{width}}  {job.model:<22} "
                   f"{job.num_videos} video{'s' * (job.num_videos != 1)}")
        for change in the_plan.diffs.get(job.id, ()):
            click.echo(f"{'':<9}   ~ {change.describe()}")
    for orphan in the_plan.orphaned:
        click.echo(f"{'orphaned':<9} {orphan:<{width}}  (in the ledger, no longer in the spec; nothing is deleted)")
    counts = ", ".join(f"{n} {state}" for state, n in the_plan.counts().items())
    click.echo(f"{campaign.name}: {len(campaign.jobs)} jobs ({counts}){skipped(campaign)}; output {campaign.output}")
    if the_plan.ledger is not None:  # on stderr, like the notes: stdout keeps the format scripts read
        click.echo(the_plan.ledger.describe(), err=True)
    if set(the_plan.counts()) == {"new"} and (elsewhere := paid_elsewhere(campaign.name, None, campaign.output)):
        click.echo(f"note: campaign {campaign.name!r} already has paid jobs in {elsewhere}: `run` would start over "
                   "here, paying again (it refuses without --fresh); --output points it there", err=True)
    click.echo(spend_line(the_plan.counts().get("new", 0), the_plan.counts().get("changed", 0), the_plan.estimate()))


def spend_line(new: int, changed: int, estimate: Estimate) -> str:
    """``42 new, 3 changed · ≈ 3,360 credits (36 priced from 118 past jobs, 9 unknown)``."""
    return f"{new} new, {changed} changed · {estimate.describe()}"


@click.command(epilog=epilog("used by run; status reads only the ledger", _EXIT_STATUS))
@spec_and_output
@click.option("--refresh", is_flag=True,
              help="First ask the API (GET /jobs) for the credits of finished jobs that lack them, and record them.")
@click.option("--sandbox", is_flag=True, help="With --refresh: ask the campaign's local sandbox (as run --sandbox).")
@ledger_option
@json_option("Print the status as JSON.")
def status(spec: str, output: str | None, only: tuple[str, ...], refresh: bool, sandbox: bool, ledger: str | None,
           as_json: bool) -> None:
    """The ledger's view: counts per state, and per job its remote ids, files, credits, earlier versions and
    errors; credits per model and the campaign's total."""
    from ..reporting import print_status, write_status_json
    from ..status import read_status

    campaign = load_or_exit(spec, as_json, output, only)
    url = resolve_ledger(ledger)
    if refresh:
        from ..runner import RunConfig, refresh_credits

        found = refresh_credits(campaign, RunConfig(sandbox=sandbox, ledger_url=url))
        if not as_json:
            click.echo(f"credits recorded for {found} job{'s' * (found != 1)}", err=True)
    report = read_status(campaign, url)
    if as_json:
        write_status_json(sys.stdout, report)
    else:
        print_status(report)
    sys.exit(EXIT_OK if report.complete else EXIT_FAILED)
