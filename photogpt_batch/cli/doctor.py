"""``doctor``: check what a run depends on, and say what to do about each problem."""

from __future__ import annotations

import sys

import click

from ..errors import EXIT_FAILED, EXIT_OK
from .common import emit_json, epilog, json_option, load_for_command
from .ledger import ledger_option, resolve_ledger

_EXIT_DOCTOR = "  0    no check failed (warnings pass)\n  1    some check failed\n  2    bad usage or spec"


@click.command(epilog=epilog("checked with GET /ping unless --sandbox", _EXIT_DOCTOR, network=True))
@click.argument("spec", required=False, type=click.Path(dir_okay=True))
@click.option("--sandbox", is_flag=True, help="Check against a local sandbox started in-process (no key needed).")
@json_option("Print the checks as JSON.")
@ledger_option
@click.option("--assets", metavar="s3://BUCKET/PREFIX", default=None,
              help="The object store to check (default: $PHOTOGPT_BATCH_ASSETS).")
def doctor(spec: str | None, sandbox: bool, as_json: bool, ledger: str | None, assets: str | None) -> None:
    """Check what a run depends on: the key, the API and its version, the clock, the base URL, the proxy and
    certificates, the plugins, the object store for local files (write, read back, sign, delete) and, given
    SPEC, its ledger and the free disk in its output folder. Each check says ok, warn or fail, and what to do.
    Sends one request to the API (GET /ping)."""
    from ..doctor import diagnose, healthy

    campaign = load_for_command(spec, as_json) if spec is not None else None
    checks = diagnose(campaign, sandbox=sandbox, ledger_url=resolve_ledger(ledger), assets=assets)
    if as_json:
        emit_json({"ok": healthy(checks), "checks": [c.to_json() for c in checks]})
    else:
        for check in checks:
            click.echo(f"{check.verdict:<5} {check.name:<16} {check.summary}")
            for line in (*check.details, *(["→ " + check.advice] if check.advice else [])):
                click.echo(f"{'':<22} {line}")
        failed = sum(c.verdict == "fail" for c in checks)
        warned = sum(c.verdict == "warn" for c in checks)
        click.echo(f"{failed} failed, {warned} warning{'s' * (warned != 1)}, {len(checks) - failed - warned} ok"
                   + ("" if campaign else "; give a SPEC to check its ledger and free disk too"))
    sys.exit(EXIT_OK if healthy(checks) else EXIT_FAILED)
