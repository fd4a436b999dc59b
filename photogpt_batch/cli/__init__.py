"""The ``photogpt-batch`` command line: parse, call the library, print, pick the exit code.

Exit codes: 0 all done; 1 some jobs failed or are in doubt; 2 bad spec, usage or configuration (nothing
sent); 130 interrupted (state saved).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shlex
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from . import __version__, schemas
from .diagnostics import Diagnostic, SpecError
from .durable import describe
from .jobs import Campaign
from .jsonstream import needs_ascii
from .ledger_cli import ledger_group, ledger_option, redact_argv, resolve_ledger
from .plugins import build_registry, get_registry, make_plugin_manager
from .selection import SelectionError, select_jobs
from .validation import load_campaign

if TYPE_CHECKING:
    from .spend.budget import SpendPreview
    from .spend.pricing import Estimate

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
T = TypeVar("T")


def _emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=needs_ascii(sys.stdout)))
    sys.stdout.write("\n")


def _print_diagnostics(diagnostics: list[Diagnostic], err: bool = False) -> None:
    for d in diagnostics:
        click.echo(d.format(), err=err)


def _summary(file: str, diagnostics: list[Diagnostic], jobs: int | None = None) -> str:
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    parts = [f"{errors} error{'s' * (errors != 1)}", f"{warnings} warning{'s' * (warnings != 1)}"]
    tail = f", {jobs} job{'s' * (jobs != 1)}" if jobs is not None else ""
    return f"{file}: {', '.join(parts)}{tail}"


def _plugin_warnings() -> None:
    for warning in get_registry().warnings:
        click.echo(f"warning: {warning}", err=True)


def _fail_usage(message: str, as_json: bool) -> NoReturn:
    """Report a problem that stopped a command before it did anything (stderr, and stdout as JSON for a
    script that asked for JSON) and exit 2."""
    click.echo(f"error: {message}", err=True)
    if as_json:
        _emit_json({"ok": False, "error": message})
    sys.exit(EXIT_USAGE)


def _read_ledger_or_exit(read: Callable[[Campaign], T], campaign: Campaign, as_json: bool = False) -> T:
    """``read(campaign)`` from its ledger, or a clear message and exit 2 for an unreadable ledger."""
    from .status import StatusError

    try:
        return read(campaign)
    except StatusError as exc:
        _fail_usage(str(exc), as_json)


def load_or_exit(spec: str, as_json: bool = False, output: str | None = None, only: tuple[str, ...] = ()) -> Campaign:
    """Load a campaign for a command (``output`` overrides its folder; ``only`` selects jobs, see
    `selection`), or print its diagnostics and exit 2."""
    _plugin_warnings()
    try:
        campaign = load_campaign(spec)
    except SpecError as exc:
        if as_json:
            _emit_json({"ok": False, "diagnostics": [d.to_json() for d in exc.diagnostics]})
        else:
            _print_diagnostics(exc.diagnostics, err=True)
            click.echo(_summary(spec, exc.diagnostics), err=True)
        sys.exit(EXIT_USAGE)
    if not as_json:
        _print_diagnostics(campaign.diagnostics, err=True)
    if output is not None:  # relative to the working directory, unlike the spec's own (see spec_relative)
        campaign.output = Path(os.path.abspath(output))
    try:
        problem = "exists and is not a folder" if campaign.output.exists() and not campaign.output.is_dir() else None
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte: no folder can have that path
        problem = f"cannot be a folder ({describe(exc) if isinstance(exc, OSError) else exc})"
    if problem:
        _fail_usage(f"the output folder {campaign.output} {problem}", as_json)
    try:
        select_jobs(campaign, only)
    except SelectionError as exc:
        _fail_usage(str(exc), as_json)
    return campaign


class _Commands(click.Group):
    """The command group; ``sandbox`` is imported only when used (it brings in the server)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "sandbox"])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "sandbox":
            from .sandbox.cli import sandbox_command

            return sandbox_command
        return super().get_command(ctx, name)


def _not_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("is empty; give a folder, or leave the option out for the spec's own")
    return value


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    # FloatRange lets NaN through (every comparison with it is false), and a NaN rate never admits a request.
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of requests per second")
    return value


def _sandbox_accepts(values: tuple[str, ...]) -> dict[str, str]:
    """``--accept-model ID:GROUP`` values as {model id: option group}; click.BadParameter for a bad one."""
    if not values:
        return {}
    from .sandbox.cli import accepted_models

    return accepted_models(values)


def _check_accepted_models(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    # Checked now (a usage error names the bad value) but kept as written, so that a resume command repeats them.
    _sandbox_accepts(values)
    return values


_NETWORK_HELP = ("  HTTPS_PROXY, HTTP_PROXY, NO_PROXY  proxies, as curl reads them (also lower case)\n"
                 "  SSL_CERT_FILE, SSL_CERT_DIR        CA certificates to trust besides the system's\n")


def _epilog(uses: str, codes: str, network: bool = False) -> str:
    """The help's last paragraphs: the environment a command reads, and its exit codes."""
    return (f"\b\nEnvironment:\n  PHOTOGPT_API_KEY   the API key ({uses}; never a flag or a file)\n"
            "  PHOTOGPT_BASE_URL  the API's base URL (default https://developer.photogptai.com/api)\n"
            f"{_NETWORK_HELP if network else ''}\n\b\nExit codes:\n{codes}")


_EXIT_RUN = ("  0    all done\n  1    some jobs failed, are in doubt or not finished\n"
             "  2    bad spec, usage or configuration (nothing sent)\n  130  interrupted (state saved; run again)")
_EXIT_PLAN = "  0    the plan is shown\n  2    bad spec, usage or configuration, or an unreadable ledger"
_EXIT_STATUS = ("  0    every job of the spec is done\n  1    some jobs failed, are in doubt or not finished\n"
                "  2    bad spec, usage or configuration, or an unreadable ledger")


def _finite_credits(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of credits")
    return value


def _spec_and_output(command: Callable[..., None]) -> Callable[..., None]:
    """The SPEC argument and the ``--output`` and ``--only`` options that plan, run and status share."""
    command = click.option("--only", multiple=True, metavar="PATTERN",
                           help="Only the jobs whose id matches this glob ('social-*') or with this axis value "
                                "('model=veo-3.1', 'ratio=9:16'); repeatable. The others are skipped, "
                                "untouched.")(command)
    command = click.option("--output", type=click.Path(file_okay=False), callback=_not_empty,
                           help="Output folder, relative to the working directory (default: the spec's "
                                "output, relative to the spec's folder).")(command)
    return click.argument("spec", type=click.Path(dir_okay=True))(command)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="photogpt-batch")
def cli() -> None:
    """Make a folder of generated videos match a campaign YAML, through the PhotoGPT API."""


@cli.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the diagnostics as JSON.")
def validate(specs: tuple[str, ...], as_json: bool) -> None:
    """Load, expand and validate campaign files; print every problem with file:line:column."""
    _plugin_warnings()
    results = []
    failed = False
    for spec in specs:
        try:
            campaign = load_campaign(spec)
            diagnostics, jobs = campaign.diagnostics, len(campaign.jobs)
        except SpecError as exc:
            diagnostics, jobs, failed = exc.diagnostics, None, True
        results.append({"file": spec, "ok": jobs is not None, "jobs": jobs,
                        "diagnostics": [d.to_json() for d in diagnostics]})
        if not as_json:
            _print_diagnostics(diagnostics)
            click.echo(_summary(spec, diagnostics, jobs) + ("" if jobs is not None else ": invalid, nothing sent"))
    if as_json:
        _emit_json(results)
    sys.exit(EXIT_USAGE if failed else EXIT_OK)


@cli.command(epilog=_epilog("used by run; plan sends nothing", _EXIT_PLAN))
@_spec_and_output
@ledger_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON, with every request body.")
def plan(spec: str, output: str | None, only: tuple[str, ...], ledger: str | None, as_json: bool) -> None:
    """Show what `run` would do: each job's id, model, state against the ledger and request. Sends nothing."""
    from .campaign_index import paid_elsewhere
    from .planning import make_plan

    campaign = load_or_exit(spec, as_json, output, only)
    url = resolve_ledger(ledger, as_json)
    the_plan = _read_ledger_or_exit(lambda c: make_plan(c, url), campaign, as_json)
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
    click.echo(f"{campaign.name}: {len(campaign.jobs)} jobs ({counts}){_skipped(campaign)}; output {campaign.output}")
    if the_plan.ledger is not None:  # on stderr, like the notes: stdout keeps the format scripts read
        click.echo(the_plan.ledger.describe(), err=True)
    if set(the_plan.counts()) == {"new"} and (elsewhere := paid_elsewhere(campaign.name, None, campaign.output)):
        click.echo(f"note: campaign {campaign.name!r} already has paid jobs in {elsewhere}: `run` would start over "
                   "here, paying again (it refuses without --fresh); --output points it there", err=True)
    click.echo(spend_line(the_plan.counts().get("new", 0), the_plan.counts().get("changed", 0), the_plan.estimate()))


def spend_line(new: int, changed: int, estimate: Estimate) -> str:
    """``42 new, 3 changed · ≈ 3,360 credits (36 priced from 118 past jobs, 9 unknown)``."""
    return f"{new} new, {changed} changed · {estimate.describe()}"


def _skipped(campaign: Campaign) -> str:
    """``, N skipped (--only)`` when a selection left jobs out, else nothing."""
    return f", {len(campaign.skipped)} skipped (--only)" if campaign.skipped else ""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the registry as JSON, with each model's options.")
def models(as_json: bool) -> None:
    """List every model, the plugin that provides it and its options."""
    registry = get_registry()
    _plugin_warnings()
    if as_json:
        _emit_json([
            {"id": m.id, "family": m.family, "plugin": m.plugin, "optionGroup": m.option_group,
             "description": m.description, "options": m.options_schema()["properties"]}
            for m in (registry.models[i] for i in registry.ids())
        ])
        return
    for model_id in registry.ids():
        m = registry.models[model_id]
        click.echo(f"{m.id:<24} {m.family:<14} plugin {m.plugin:<10} options: {', '.join(m.options) or '-'}")


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), default="schemas", show_default=True,
              help="Folder to write the JSON Schemas into.")
@click.option("--check", is_flag=True, help="Only check that the files in --out are up to date (exit 1 if not).")
@click.option("--all-plugins", is_flag=True,
              help="Include installed third-party plugins (default: the built-in models only, as committed).")
def schema(out: str, check: bool, all_plugins: bool) -> None:
    """Write the campaign JSON Schema and one schema per model (for editors and CI)."""
    registry = build_registry(make_plugin_manager(builtin_only=not all_plugins))
    for warning in registry.warnings:
        click.echo(f"warning: {warning}", err=True)
    if check:
        problems = schemas.stale(registry, Path(out))
        for problem in problems:
            click.echo(problem, err=True)
        if problems:
            click.echo("regenerate with: photogpt-batch schema", err=True)
            sys.exit(EXIT_FAILED)
        click.echo(f"{out}: up to date")
        return
    for path in schemas.write(registry, Path(out)):
        click.echo(str(path))


@cli.command(epilog=_epilog("needed unless --sandbox", _EXIT_RUN, network=True))
@_spec_and_output
@click.option("--concurrency", type=click.IntRange(1, 512), default=4, show_default=True,
              help="Jobs generating on the server at once (the vendor asks for few active jobs).")
@click.option("--downloads", "download_concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Files downloading at once.")
@click.option("--rate", "requests_per_second", type=click.FloatRange(0.1, 10000), default=10.0, show_default=True,
              callback=_finite, help="API requests per second, at most.")
@click.option("--sandbox", is_flag=True, help="Run against a local sandbox started in-process (no key needed).")
@click.option("--accept-model", "accept_models", multiple=True, metavar="ID:GROUP", callback=_check_accepted_models,
              help="With --sandbox: accept this model the sandbox does not know, checking only the request's "
                   "envelope and options.GROUP (repeatable).")
@click.option("--retry-failed", is_flag=True, help="Submit jobs that failed again (a new, billed job each).")
@click.option("--resubmit-in-doubt", is_flag=True,
              help="Submit again jobs whose earlier submission has an unknown outcome (may pay twice).")
@click.option("--no-verify", is_flag=True, help="Trust downloaded files by size without re-hashing them.")
@click.option("--fresh", is_flag=True, help="Start the campaign over in an empty folder although another folder "
              "on this machine holds its paid jobs (pays for every job again).")
@click.option("--max-credits", type=click.FloatRange(min=0, min_open=True), callback=_finite_credits,
              metavar="N", help="Budget: the most this campaign may spend, across all its runs (with the spec's "
              "budget too, the lower wins). Submission stops before a job would pass it.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before paying (on a terminal, run shows what it is "
              "about to pay for and asks first).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output; only the summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@ledger_option
@click.pass_context
def run(ctx: click.Context, spec: str, output: str | None, only: tuple[str, ...], concurrency: int,
        download_concurrency: int, requests_per_second: float, sandbox: bool, accept_models: tuple[str, ...],
        retry_failed: bool, resubmit_in_doubt: bool, no_verify: bool, fresh: bool, max_credits: float | None,
        yes: bool, quiet: bool, as_json: bool, ledger: str | None) -> None:
    """Make the output folder match the spec: submit what is missing, resume what is in flight, download.

    Safe to rerun at any time: finished work is left alone and nothing paid for is sent twice. On a terminal
    it shows what it is about to pay for and asks first (--yes skips the question).
    """
    from .engine import EngineOptions
    from .progress import Progress
    from .reporting import print_summary, summary_json
    from .runner import ConfigError, RunConfig, run_campaign

    if accept_models and not sandbox:
        raise click.UsageError("--accept-model applies to the local sandbox: add --sandbox")
    campaign = load_or_exit(spec, as_json, output, only)
    url = resolve_ledger(ledger, as_json)
    options = EngineOptions(concurrency=concurrency, download_concurrency=download_concurrency,
                            retry_failed=retry_failed, resubmit_in_doubt=resubmit_in_doubt, verify_files=not no_verify,
                            max_credits=max_credits, confirm=None if yes or not _interactive() else _ask_to_pay)
    total = sum(job.num_videos for job in campaign.jobs)
    progress = Progress(total, quiet=quiet or as_json)
    progress.note(f"{campaign.name}: output {campaign.output}{_skipped(campaign)}")
    handler = progress.log_handler()
    handler.setLevel(logging.WARNING)
    logging.getLogger("photogpt_batch").addHandler(handler)
    logging.getLogger("photogpt_batch").propagate = False
    try:
        summary = run_campaign(campaign, RunConfig(sandbox=sandbox, requests_per_second=requests_per_second,
                                                   engine=options, fresh=fresh, ledger_url=url,
                                                   sandbox_accepts=_sandbox_accepts(accept_models)),
                               progress)
    except ConfigError as exc:
        progress.close()
        _fail_usage(str(exc), as_json)
    progress.close()
    try:
        if as_json:
            _emit_json(summary_json(campaign, summary))
        else:
            print_summary(campaign, summary, resume_command(ctx))
            if ledger is not None and not summary.complete:
                from .ledger import has_password

                if has_password(ledger):
                    click.echo("(the resume command shows --ledger without its password: PGPASSWORD or ~/.pgpass "
                               "must supply it)", err=True)
    except BrokenPipeError:
        # Nobody reads the report any more (`... 2>&1 | head -1`): the exit code still tells how it went.
        _silence_broken_streams()
    if summary.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_OK if summary.complete else EXIT_FAILED)


def _interactive() -> bool:
    """Whether someone can answer a question: stdin and stderr are both terminals (not CI, not a pipe)."""
    return all(stream is not None and stream.isatty() for stream in (sys.stdin, sys.stderr))


def _ask_to_pay(preview: SpendPreview) -> bool:
    """Show what the run is about to pay for and ask (on stderr); True to go on. Ctrl-C raises
    KeyboardInterrupt even while the run's own signal handlers are installed: nothing has been sent yet."""
    click.echo(f"about to submit {preview.jobs} job{'s' * (preview.jobs != 1)}: {preview.describe()}", err=True)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            # Not click.confirm: it turns Ctrl-C into the same Abort as the end of input, and Ctrl-C must
            # stop the run (exit 130) where no answer is a "no".
            click.echo("Submit them (each is billed)? [y/N]: ", nl=False, err=True)
            answer = sys.stdin.readline()
            if not answer:  # end of input: no answer is not a yes
                click.echo("", err=True)
                return False
            answer = answer.strip().lower()
            if answer in ("y", "yes"):
                return True
            if answer in ("", "n", "no"):
                return False
            click.echo("answer y or n", err=True)
    finally:
        signal.signal(signal.SIGINT, previous)


@cli.command(epilog=_epilog("used by run; status reads only the ledger", _EXIT_STATUS))
@_spec_and_output
@click.option("--refresh", is_flag=True,
              help="First ask the API (GET /jobs) for the credits of finished jobs that lack them, and record them.")
@click.option("--sandbox", is_flag=True, help="With --refresh: ask the campaign's local sandbox (as run --sandbox).")
@ledger_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(spec: str, output: str | None, only: tuple[str, ...], refresh: bool, sandbox: bool, ledger: str | None,
           as_json: bool) -> None:
    """The ledger's view: counts per state, and per job its remote ids, files, credits, earlier versions and
    errors; credits per model and the campaign's total."""
    from .reporting import print_status, write_status_json
    from .status import read_status

    campaign = load_or_exit(spec, as_json, output, only)
    url = resolve_ledger(ledger, as_json)
    if refresh:
        from .runner import ConfigError, RunConfig, refresh_credits

        try:
            found = refresh_credits(campaign, RunConfig(sandbox=sandbox, ledger_url=url))
        except ConfigError as exc:
            _fail_usage(str(exc), as_json)
        if not as_json:
            click.echo(f"credits recorded for {found} job{'s' * (found != 1)}", err=True)
    report = _read_ledger_or_exit(lambda c: read_status(c, url), campaign, as_json)
    if as_json:
        write_status_json(sys.stdout, report)
    else:
        print_status(report)
    sys.exit(EXIT_OK if report.complete else EXIT_FAILED)


#: Options a resumed run must not repeat: each is a one-time decision to pay again (starting over, retrying
#: failures, resubmitting what may exist), which the interrupted run already acted on; and ``--yes``: the
#: resumed run asks afresh about what is left, so a resume command pasted later (after the spec was edited)
#: never pays without showing the price. ``--max-credits`` is repeated: a budget holds across runs.
NOT_REPEATED_ON_RESUME = frozenset({"fresh", "retry_failed", "resubmit_in_doubt", "yes"})


def resume_command(ctx: click.Context) -> list[str]:
    """The command that resumes this run: every option given on the command line (an option added later is
    repeated too), except `NOT_REPEATED_ON_RESUME`, with values as they were given."""
    words = ["photogpt-batch", ctx.info_name or "run"]
    for param in ctx.command.params:
        name = param.name or ""
        value = ctx.params.get(name)
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif (name not in NOT_REPEATED_ON_RESUME and isinstance(param, click.Option)
              and ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE):
            if param.is_flag:
                words += [param.opts[0]] if value else []
            else:
                for item in value if param.multiple and isinstance(value, tuple) else (value,):
                    # A --ledger URL's password is never printed: PGPASSWORD or ~/.pgpass must supply it.
                    words += [param.opts[0], redact_argv(["--ledger", str(item)])[1] if name == "ledger" else str(item)]
    return words


_EXIT_REVIEW = ("  0    the page is written\n"
                "  2    bad spec or usage, an unreadable ledger, a page that cannot be written, a refused picks file")


@cli.command(epilog=f"\b\nExit codes:\n{_EXIT_REVIEW}")
@_spec_and_output
@click.option("--picks", "picks_file", type=click.Path(dir_okay=False),
              help="Record the picks exported from the page (a JSON file) in the ledger, then write the page.")
@click.option("--open", "open_page", is_flag=True, help="Open the page in the web browser.")
def review(spec: str, output: str | None, only: tuple[str, ...], picks_file: str | None, open_page: bool) -> None:
    """Write <output>/index.html: the campaign's videos laid out by its matrix, to compare and pick."""
    from .review import GalleryError, PicksError, record_picks, write_gallery

    campaign = load_or_exit(spec, False, output, only)
    if picks_file is not None:
        try:
            recorded = record_picks(campaign, Path(picks_file))
        except PicksError as exc:
            _fail_usage(str(exc), False)
        for job_id in recorded.unknown:
            click.echo(f"warning: {picks_file}: no job {job_id!r} in {spec}; not recorded", err=True)
        click.echo(f"{campaign.name}: {len(recorded.jobs)} picked job(s) recorded in the ledger", err=True)
    try:
        page = write_gallery(campaign)
    except GalleryError as exc:
        _fail_usage(str(exc), False)
    click.echo(str(page))
    if open_page:
        import webbrowser

        webbrowser.open(page.resolve().as_uri())


_EXIT_DOCTOR = "  0    no check failed (warnings pass)\n  1    some check failed\n  2    bad usage or spec"


@cli.command(epilog=_epilog("checked with GET /ping unless --sandbox", _EXIT_DOCTOR, network=True))
@click.argument("spec", required=False, type=click.Path(dir_okay=True))
@click.option("--sandbox", is_flag=True, help="Check against a local sandbox started in-process (no key needed).")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(spec: str | None, sandbox: bool, as_json: bool) -> None:
    """Check what a run depends on: the key, the API and its version, the clock, the base URL, the proxy and
    certificates, the plugins and, given SPEC, its ledger and the free disk in its output folder. Each check
    says ok, warn or fail, and what to do. Sends one request (GET /ping)."""
    from .doctor import diagnose, healthy

    campaign = load_or_exit(spec, as_json) if spec is not None else None
    checks = diagnose(campaign, sandbox=sandbox)
    if as_json:
        _emit_json({"ok": healthy(checks), "checks": [c.to_json() for c in checks]})
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


cli.add_command(ledger_group)


def _silence_broken_streams() -> None:
    """Point stdout and stderr at /dev/null, so that flushing them at exit does not fail on a closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                os.dup2(devnull, stream.fileno())
    os.close(devnull)


def main() -> None:
    """Console-script entry point: no traceback reaches the user unless ``PHOTOGPT_BATCH_DEBUG`` is set."""
    if sys.stdout is not None and needs_ascii(sys.stdout):
        # Text that this stream cannot encode (a prompt in another script) is shown escaped, not a crash.
        with contextlib.suppress(AttributeError, ValueError):
            sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        # Not standalone: click would turn Ctrl-C into "Aborted!" and exit 1; an interruption is 130.
        code = cli.main(standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        # No click context here (interrupted before or outside the run): the words as typed, less the one-time
        # decisions that `resume_command` leaves out too.
        again = shlex.join(["photogpt-batch", *(word for word in redact_argv(sys.argv[1:])  # no --ledger password
                                                if word != "-y"
                                                and word.lstrip("-").replace("-", "_") not in NOT_REPEATED_ON_RESUME)])
        click.echo(f"interrupted; everything recorded so far is kept. Resume with: {again}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:
        if os.environ.get("PHOTOGPT_BATCH_DEBUG"):
            raise
        detail = describe(exc) if isinstance(exc, OSError) else str(exc)
        kept = "; the ledger keeps what was done" if sys.argv[1:2] == ["run"] else ""
        click.echo(f"error: {detail or type(exc).__name__} ({type(exc).__name__}){kept}. Set "
                   "PHOTOGPT_BATCH_DEBUG=1 to see the traceback.", err=True)
        sys.exit(EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else EXIT_OK)
