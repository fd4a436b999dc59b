"""The ``--ledger`` option of plan, run and status, and the ``ledger`` command group: the shared ledger's locks,
and moving a campaign between a folder's ledger and the shared one. Imports the ledger only when a command runs
(``validate`` must stay light). A `LedgerError` is a usage error: reported, exit 2 (see `errors`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from ..errors import UsageError
from .common import json_option, load_for_command

_LEDGER_HELP = ("The shared ledger: a postgresql:// URL (libpq's PG* variables and ~/.pgpass apply; default "
                "$PHOTOGPT_BATCH_LEDGER, else the output folder's own ledger). Put the password in PGPASSWORD or "
                "~/.pgpass rather than here.")


def ledger_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--ledger URL`` (passed to the command as ``ledger``)."""
    return click.option("--ledger", "ledger", metavar="URL", default=None, help=_LEDGER_HELP)(command)


def resolve_ledger(option: str | None) -> str | None:
    """The shared ledger's URL from ``--ledger`` or the environment (``None``: the folder's); `LedgerUrlError`
    (exit 2) if bad."""
    from ..ledger import ledger_url

    return ledger_url(option)


def redact_argv(argv: list[str]) -> list[str]:
    """The command line with any ``--ledger`` URL's password removed (to repeat it in a message)."""
    from ..ledger import redact

    out, after_ledger = [], False
    for arg in argv:
        if after_ledger:
            arg, after_ledger = redact(arg), False
        elif arg == "--ledger":
            after_ledger = True
        elif arg.startswith("--ledger="):
            arg = "--ledger=" + redact(arg.split("=", 1)[1])
        out.append(arg)
    return out


def _shared_url(option: str | None) -> str:
    url = resolve_ledger(option)
    if url is None:
        raise UsageError("no shared ledger: give --ledger postgresql://... or set PHOTOGPT_BATCH_LEDGER")
    return url


@click.group("ledger")
def ledger_group() -> None:
    """The shared ledger: its locks, and moving a campaign between a folder's ledger and it."""


@ledger_group.command("locks")
@ledger_option
@json_option("Print the locks as JSON.")
def locks(ledger: str | None, as_json: bool) -> None:
    """List the campaigns whose run lock is held, with the holder and since when."""
    from ..ledger import pg_admin

    held = pg_admin.list_locks(_shared_url(ledger))
    if as_json:
        click.echo(json.dumps([h.to_json() for h in held], indent=2))
        return
    for holder in held:
        click.echo(f"{holder.campaign}: {holder.describe()}")
    if not held:
        click.echo("no campaign is locked")


@ledger_group.command("unlock")
@click.argument("spec", type=click.Path(dir_okay=True))
@ledger_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask (needed when not on a terminal).")
def unlock(spec: str, ledger: str | None, yes: bool) -> None:
    """Break the run lock of SPEC's campaign (its holder, if it still runs, records and sends nothing more)."""
    from ..ledger import pg_admin

    campaign = load_for_command(spec)
    url = _shared_url(ledger)
    holder = pg_admin.lock_holder(url, campaign.name)
    if holder is None:
        click.echo(f"campaign {campaign.name!r} is not locked")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"campaign {campaign.name!r} is locked by {holder.describe()}; to break the lock "
                             "without a terminal to ask on, add --yes")
        if not click.confirm(f"campaign {campaign.name!r} is locked by {holder.describe()}. Break the lock? "
                             "(make sure that run is gone)", default=False):
            raise UsageError("left locked")
    broken = pg_admin.break_lock(url, campaign.name)
    click.echo(f"unlocked campaign {campaign.name!r}" + (f" (held by {broken.describe()})" if broken else ""))


def _transfer(direction: str, spec: str, output: str | None, ledger: str | None) -> None:
    from ..ledger import transfer

    campaign = load_for_command(spec, output=output)
    url = _shared_url(ledger)
    try:
        moved = (transfer.push if direction == "push" else transfer.pull)(campaign.output, url, campaign.name)
    except OSError as exc:
        raise UsageError(f"cannot use the output folder {campaign.output}: {exc.strerror or exc}") from exc
    click.echo(moved)


@ledger_group.command("push")
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--output", type=click.Path(file_okay=False), help="Output folder (default: the spec's).")
@ledger_option
def push(spec: str, output: str | None, ledger: str | None) -> None:
    """Copy the folder's ledger of SPEC's campaign into the shared ledger: every job, version, video, event and
    credit. Refused if the shared ledger holds that campaign with other content; pushing again changes nothing."""
    _transfer("push", spec, output, ledger)


@ledger_group.command("pull")
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--output", type=click.Path(file_okay=False), help="Output folder (default: the spec's).")
@ledger_option
def pull(spec: str, output: str | None, ledger: str | None) -> None:
    """Copy SPEC's campaign from the shared ledger into the folder's own ledger (to archive it, or work offline).
    Refused if the folder's ledger holds other content; pulling again changes nothing."""
    _transfer("pull", spec, output, ledger)
