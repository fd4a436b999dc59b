"""What the commands share: loading a campaign for a command, printing JSON and diagnostics, the options
several commands take, and reporting an error (`report_error`, called from the one place that maps errors to
exit codes: ``_Commands.invoke`` in this package's ``__init__``)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..campaign import Campaign
from ..errors import BatchError, UsageError
from ..io.durable import describe
from ..io.jsonstream import needs_ascii
from ..plugins import get_registry
from ..spec.diagnostics import Diagnostic, SpecError
from ..spec.load import load_campaign
from ..spec.selection import needs_picks, select_jobs

F = TypeVar("F", bound=Callable[..., Any])

#: The key in click's shared ``ctx.meta`` that says the command was asked for ``--json``.
JSON_ASKED = "photogpt_batch.json"


def emit_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout (ASCII-escaped where stdout cannot encode it)."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=needs_ascii(sys.stdout)))
    sys.stdout.write("\n")


def print_diagnostics(diagnostics: list[Diagnostic], err: bool = False) -> None:
    """Each diagnostic on its own line (file:line:column: ...)."""
    for d in diagnostics:
        click.echo(d.format(), err=err)


def diagnostics_summary(file: str, diagnostics: list[Diagnostic], jobs: int | None = None) -> str:
    """``spec.yaml: 1 error, 2 warnings, 12 jobs``."""
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    parts = [f"{errors} error{'s' * (errors != 1)}", f"{warnings} warning{'s' * (warnings != 1)}"]
    tail = f", {jobs} job{'s' * (jobs != 1)}" if jobs is not None else ""
    return f"{file}: {', '.join(parts)}{tail}"


def plugin_warnings() -> None:
    """The plugin registry's warnings, on stderr."""
    for warning in get_registry().warnings:
        click.echo(f"warning: {warning}", err=True)


def json_option(help: str) -> Callable[[F], F]:
    """``--json`` (passed as ``as_json``); also noted in ``ctx.meta`` so that an error is reported as JSON."""

    def remember(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
        ctx.meta[JSON_ASKED] = value
        return value

    return click.option("--json", "as_json", is_flag=True, help=help, callback=remember)


def report_error(exc: BatchError, as_json: bool) -> None:
    """Tell the user what stopped the command: on stderr, and on stdout as JSON for a script that asked for it.
    A spec's diagnostics are printed in full."""
    if isinstance(exc, SpecError):
        if not as_json:
            print_diagnostics(exc.diagnostics, err=True)
            click.echo(diagnostics_summary(exc.source or "spec", exc.diagnostics), err=True)
    else:
        click.echo(f"error: {exc}", err=True)
    if as_json:
        emit_json(exc.to_json())


def load_for_command(spec: str, as_json: bool = False, output: str | None = None,
                     only: tuple[str, ...] = (), ledger_url: str | None = None, memo: bool = True) -> Campaign:
    """Load a campaign for a command (``output`` overrides its folder; ``only`` selects jobs, see
    `selection`, ``picked`` and ``unpicked`` by the picks recorded in its ledger: the folder's, or the shared
    one at ``ledger_url``); a `UsageError` (exit 2) for a bad spec, folder or selection, or picks that cannot be
    read. Prints the spec's warnings unless ``as_json``. ``memo``: reuse the spec's memo when it is current
    (`spec.memo`); ``run --rehash``, which reads everything again, loads the spec in full."""
    plugin_warnings()
    try:
        campaign = load_campaign(spec, memo=memo)
    except SpecError as exc:
        exc.source = spec  # the summary line names the spec as it was given
        raise
    if not as_json:
        print_diagnostics(campaign.diagnostics, err=True)
    if output is not None:  # relative to the working directory, unlike the spec's own (see spec_relative)
        campaign.output = Path(os.path.abspath(output))
    try:
        problem = "exists and is not a folder" if campaign.output.exists() and not campaign.output.is_dir() else None
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte: no folder can have that path
        problem = f"cannot be a folder ({describe(exc) if isinstance(exc, OSError) else exc})"
    if problem:
        raise UsageError(f"the output folder {campaign.output} {problem}")
    picked = None
    if needs_picks(only):
        from ..review.picks import picked_ids

        picked = picked_ids(campaign, ledger_url)
    select_jobs(campaign, only, picked)
    return campaign


def skipped(campaign: Campaign) -> str:
    """``, N skipped (--only)`` when a selection left jobs out, else nothing."""
    return f", {len(campaign.skipped)} skipped (--only)" if campaign.skipped else ""


def _not_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("is empty; give a folder, or leave the option out for the spec's own")
    return value


def spec_and_output(command: Callable[..., None]) -> Callable[..., None]:
    """The SPEC argument and the ``--output`` and ``--only`` options that plan, run, status and review share."""
    command = click.option("--only", multiple=True, metavar="PATTERN",
                           help="Only the jobs whose id matches this glob ('social-*') or with this axis value "
                                "('model=veo-3.1', 'ratio=9:16'), or 'picked' / 'unpicked' (by the picks "
                                "recorded with review --picks); repeatable. The others are skipped, "
                                "untouched.")(command)
    command = click.option("--output", type=click.Path(file_okay=False), callback=_not_empty,
                           help="Output folder, relative to the working directory (default: the spec's "
                                "output, relative to the spec's folder).")(command)
    return click.argument("spec", type=click.Path(dir_okay=True))(command)


NETWORK_HELP = ("  HTTPS_PROXY, HTTP_PROXY, NO_PROXY  proxies, as curl reads them (also lower case)\n"
                "  SSL_CERT_FILE, SSL_CERT_DIR        CA certificates to trust besides the system's\n")


def epilog(uses: str, codes: str, network: bool = False) -> str:
    """The help's last paragraphs: the environment a command reads, and its exit codes."""
    return (f"\b\nEnvironment:\n  PHOTOGPT_API_KEY   the API key ({uses}; never a flag or a file)\n"
            "  PHOTOGPT_BASE_URL  the API's base URL (default https://developer.photogptai.com/api)\n"
            f"{NETWORK_HELP if network else ''}\n\b\nExit codes:\n{codes}")


def silence_broken_streams() -> None:
    """Point stdout and stderr at /dev/null, so that flushing them at exit does not fail on a closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                os.dup2(devnull, stream.fileno())
    os.close(devnull)
