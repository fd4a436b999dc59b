"""``review``: write the campaign's review page, and record the picks exported from it."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from ..spec.selection import needs_picks
from .common import load_for_command, spec_and_output
from .ledger import ledger_option, resolve_ledger

_EXIT_REVIEW = ("  0    the page is written\n"
                "  2    bad spec or usage, an unreadable ledger, a page that cannot be written, a refused picks file")


@click.command(epilog=f"\b\nExit codes:\n{_EXIT_REVIEW}")
@spec_and_output
@click.option("--picks", "picks_file", type=click.Path(dir_okay=False),
              help="Record the picks exported from the page (a JSON file) in the ledger, then write the page.")
@click.option("--open", "open_page", is_flag=True, help="Open the page in the web browser.")
@ledger_option
def review(spec: str, output: str | None, only: tuple[str, ...], picks_file: str | None, open_page: bool,
           ledger: str | None) -> None:
    """Write <output>/index.html: the campaign's videos laid out by its matrix, to compare and pick."""
    from ..review import record_picks, write_review_page

    if picks_file is not None and needs_picks(only):  # the new picks would be filtered by the old ones
        raise UsageError("--picks records the whole file: give it without --only picked/unpicked")
    url = resolve_ledger(ledger)
    campaign = load_for_command(spec, False, output, only, url)
    if picks_file is not None:
        recorded = record_picks(campaign, Path(picks_file), url)
        for job_id in recorded.unknown:
            click.echo(f"warning: {picks_file}: no job {job_id!r} in {spec}; not recorded", err=True)
        click.echo(f"{campaign.name}: {len(recorded.jobs)} picked job(s) recorded in the ledger", err=True)
    page = write_review_page(campaign, ledger_url=url)
    click.echo(str(page))
    if open_page:
        import webbrowser

        webbrowser.open(page.resolve().as_uri())
