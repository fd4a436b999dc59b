"""The commands that read the ledger and send nothing (unless ``status --refresh``): ``plan`` shows what ``run``
would do, ``status`` what the ledger holds."""

from __future__ import annotations

import sys

import click

from ..errors import EXIT_FAILED, EXIT_OK
from .common import epilog, json_option, load_for_command, spec_and_output
from .ledger import ledger_option, resolve_ledger

_EXIT_PLAN = "  0    the plan is shown\n  2    bad spec, usage or configuration, or an unreadable ledger"
_EXIT_STATUS = ("  0    every job of the spec is done, or waits for what it needs (picks)\n"
                "  1    some jobs failed, are blocked, in doubt or not finished\n"
                "  2    bad spec, usage or configuration, or an unreadable ledger")


@click.command(epilog=epilog("used by run; plan sends nothing", _EXIT_PLAN))
@spec_and_output
@ledger_option
@json_option("Print the plan as JSON, with every request body.")
@click.option("--assets", metavar="s3://BUCKET/PREFIX", default=None,
              help="The object store the spec's local files would be staged on (not asked: plan sends nothing) "
                   "[default: $PHOTOGPT_BATCH_ASSETS].")
def plan(spec: str, output: str | None, only: tuple[str, ...], ledger: str | None, as_json: bool,
         assets: str | None) -> None:
    """Show what `run` would do: each job's id, model, state against the ledger and request. Sends nothing."""
    from ..campaign_index import paid_elsewhere
    from ..views.plan import make_plan
    from ..views.plan_render import print_plan, write_plan_json

    url = resolve_ledger(ledger)
    campaign = load_for_command(spec, as_json, output, only, url)
    the_plan = make_plan(campaign, url, assets=assets)
    if as_json:
        write_plan_json(sys.stdout, the_plan)
        return
    # Only a campaign new here may have been run in another folder (looked up in this machine's index).
    elsewhere = paid_elsewhere(campaign.name, None, campaign.output) if set(the_plan.counts()) == {"new"} else None
    print_plan(the_plan, elsewhere)


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
    from ..views.status import read_status
    from ..views.status_render import print_status, write_status_json

    url = resolve_ledger(ledger)
    campaign = load_for_command(spec, as_json, output, only, url)
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
