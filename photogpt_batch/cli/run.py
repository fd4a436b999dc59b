"""``run``: make the output folder match the spec. With what only it needs: the question before paying, and the
command that resumes an interrupted run."""

from __future__ import annotations

import logging
import math
import signal
import sys
from typing import TYPE_CHECKING

import click

from ..errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from .common import emit_json, epilog, json_option, load_for_command, silence_broken_streams, skipped, spec_and_output
from .ledger import ledger_option, redact_argv, resolve_ledger

if TYPE_CHECKING:
    from ..campaign import Campaign
    from ..spend.budget import SpendPreview

_EXIT_RUN = ("  0    all done\n  1    some jobs failed, are in doubt or not finished\n"
             "  2    bad spec, usage or configuration (nothing sent)\n  130  interrupted (state saved; run again)")


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    # FloatRange lets NaN through (every comparison with it is false), and a NaN rate never admits a request.
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of requests per second")
    return value


def _finite_credits(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of credits")
    return value


def _stated_prices(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    # Checked now (a usage error names the bad value) but kept as written, so that a resume command repeats them.
    _prices(values)
    return values


def _prices(values: tuple[str, ...]) -> dict[str, float]:
    """``--price 'CLASS=CREDITS'`` values as {price class as the run names it: credits per video}."""
    prices: dict[str, float] = {}
    for value in values:
        name, sep, number = value.rpartition("=")
        name = " ".join(name.split())
        try:
            credits = float(number)
        except ValueError:
            credits = math.nan
        if not sep or not name or not math.isfinite(credits) or credits <= 0:
            raise click.BadParameter(f"{value!r} is not CLASS=CREDITS (a price class as the run names it, e.g. "
                                     "'veo-3.1-fast 720p 8 s=40', and a positive number of credits per video)",
                                     param_hint="--price")
        prices[name] = credits
    return prices


def _unknown_classes(campaign: Campaign, prices: dict[str, float]) -> str | None:
    """A warning naming the stated prices that match no job of ``campaign`` (a typo prices nothing), with the
    campaign's classes; None when every one matches."""
    from ..plugins import get_registry
    from ..spend.pricing import describe_class, price_class

    classes = sorted({describe_class(price_class(job.body, get_registry())) for job in campaign.jobs})
    unmatched = [name for name in prices if name not in classes]
    if not unmatched:
        return None
    return (f"warning: --price {', '.join(repr(n) for n in unmatched)} matches no job of this campaign; its price "
            f"classes: {', '.join(repr(c) for c in classes)}")


def _sandbox_accepts(values: tuple[str, ...]) -> dict[str, str]:
    """``--accept-model ID:GROUP`` values as {model id: option group}; click.BadParameter for a bad one."""
    if not values:
        return {}
    from ..sandbox.cli import accepted_models

    return accepted_models(values)


def _check_accepted_models(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    # Checked now (a usage error names the bad value) but kept as written, so that a resume command repeats them.
    _sandbox_accepts(values)
    return values


@click.command(epilog=epilog("needed unless --sandbox", _EXIT_RUN, network=True))
@spec_and_output
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
@click.option("--assets", metavar="s3://BUCKET/PREFIX", default=None,
              help="The object store the spec's local files (file:) are staged on before their jobs are sent "
                   "[default: $PHOTOGPT_BATCH_ASSETS].")
@click.option("--retry-failed", is_flag=True, help="Submit jobs that failed again (a new, billed job each).")
@click.option("--resubmit-in-doubt", is_flag=True,
              help="Submit again jobs whose earlier submission has an unknown outcome (may pay twice).")
@click.option("--no-verify", is_flag=True, help="Trust downloaded files by size without re-hashing them.")
@click.option("--rehash", is_flag=True, help="Re-read every downloaded file to check its sha256, even those "
              "unchanged since they were last checked, and record them afresh; load the spec in full, without its "
              "memo.")
@click.option("--fresh", is_flag=True, help="Start the campaign over in an empty folder although another folder "
              "on this machine holds its paid jobs (pays for every job again).")
@click.option("--max-credits", type=click.FloatRange(min=0, min_open=True), callback=_finite_credits,
              metavar="N", help="Budget: the most this campaign may spend, across all its runs (with the spec's "
              "budget too, the lower wins). Submission stops before a job would pass it.")
@click.option("--price", "prices", multiple=True, metavar="CLASS=CREDITS", callback=_stated_prices,
              help="With a budget: the price per video of a price class, named as the run names it ('veo-3.1-fast "
              "720p 8 s=40'), for a class whose credits the API does not report yet (repeatable; a learned "
              "price that is higher wins).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before paying (on a terminal, run shows what it is "
              "about to pay for and asks first).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output; only the summary.")
@json_option("Print the summary as JSON.")
@ledger_option
@click.pass_context
def run(ctx: click.Context, spec: str, output: str | None, only: tuple[str, ...], concurrency: int,
        download_concurrency: int, requests_per_second: float, sandbox: bool, accept_models: tuple[str, ...],
        assets: str | None, retry_failed: bool, resubmit_in_doubt: bool, no_verify: bool, rehash: bool, fresh: bool,
        max_credits: float | None, prices: tuple[str, ...], yes: bool, quiet: bool, as_json: bool,
        ledger: str | None) -> None:
    """Make the output folder match the spec: submit what is missing, resume what is in flight, download.

    Safe to rerun at any time: finished work is left alone and nothing paid for is sent twice. On a terminal
    it shows what it is about to pay for and asks first (--yes skips the question).
    """
    from ..engine import EngineOptions
    from ..engine.progress import Progress
    from ..runner import RunConfig, run_campaign
    from ..views.run_render import print_summary, summary_json

    if accept_models and not sandbox:
        raise click.UsageError("--accept-model applies to the local sandbox: add --sandbox")
    if rehash and no_verify:
        raise click.UsageError("--rehash reads every file and --no-verify none: give one of them")
    url = resolve_ledger(ledger)
    campaign = load_for_command(spec, as_json, output, only, url, memo=not rehash)  # --rehash: read it all again
    options = EngineOptions(concurrency=concurrency, download_concurrency=download_concurrency,
                            retry_failed=retry_failed, resubmit_in_doubt=resubmit_in_doubt, verify_files=not no_verify,
                            rehash=rehash,
                            max_credits=max_credits, confirm=None if yes or not _interactive() else _ask_to_pay,
                            stated_prices=_prices(prices))
    total = sum(job.num_videos for job in campaign.jobs)
    progress = Progress(total, quiet=quiet or as_json)
    progress.note(f"{campaign.name}: output {campaign.output}{skipped(campaign)}")
    unmatched = _unknown_classes(campaign, options.stated_prices) if prices else None
    if unmatched:  # shown even with --quiet: a mistyped class prices nothing
        click.echo(unmatched, err=True)
    handler = progress.log_handler()
    handler.setLevel(logging.WARNING)
    logging.getLogger("photogpt_batch").addHandler(handler)
    logging.getLogger("photogpt_batch").propagate = False
    try:
        summary = run_campaign(campaign, RunConfig(sandbox=sandbox, requests_per_second=requests_per_second,
                                                   engine=options, fresh=fresh, ledger_url=url,
                                                   sandbox_accepts=_sandbox_accepts(accept_models),
                                                   assets=assets),
                               progress)
    finally:  # a ConfigError is reported (exit 2) after the progress line is gone
        progress.close()
    try:
        if as_json:
            emit_json(summary_json(campaign, summary))
        else:
            print_summary(campaign, summary, resume_command(ctx))
            if ledger is not None and not summary.complete:
                from ..ledger import has_password

                if has_password(ledger):
                    click.echo("(the resume command shows --ledger without its password: PGPASSWORD or ~/.pgpass "
                               "must supply it)", err=True)
    except BrokenPipeError:
        # Nobody reads the report any more (`... 2>&1 | head -1`): the exit code still tells how it went.
        silence_broken_streams()
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
