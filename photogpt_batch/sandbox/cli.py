"""``photogpt-batch sandbox``: serve the local PhotoGPT-compatible API from the command line."""

from __future__ import annotations

import math
from typing import Any

import click

from .config import FAULT_KINDS, LOST_POST_MODES, Faults, SandboxConfig
from .runner import serve_forever
from .validation import parse_accepted_model


class _FiniteRange(click.FloatRange):
    """A `click.FloatRange` that refuses NaN, which it lets through (every comparison with NaN is false):
    a NaN duration would leave jobs running forever."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class _CannotServe(click.ClickException):
    """A busy port or a bad address: a usage problem (exit 2), reported without a traceback."""

    exit_code = 2


def _seconds_range(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[float, float] | None:
    if value is None:
        return None
    parts = value.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise click.BadParameter("expected MIN,MAX in seconds, e.g. 0.5,2") from None
    if len(numbers) == 1:
        numbers *= 2
    if len(numbers) != 2 or not all(map(math.isfinite, numbers)) or numbers[0] < 0 or numbers[1] < numbers[0]:
        raise click.BadParameter("expected MIN,MAX with 0 <= MIN <= MAX")
    return numbers[0], numbers[1]


def _nth_triggers(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, tuple[int, ...]]:
    triggers: dict[str, tuple[int, ...]] = {}
    for value in values:
        kind, _, numbers = value.partition("=")
        kind = kind.strip().replace("-", "_")
        if kind not in FAULT_KINDS:
            raise click.BadParameter(f"unknown fault {kind!r}; one of: {', '.join(FAULT_KINDS)}")
        try:
            ordinals = tuple(int(n) for n in numbers.split(",") if n.strip())
        except ValueError:
            raise click.BadParameter(f"expected KIND=N[,N...], got {value!r}") from None
        if not ordinals or min(ordinals) < 1:
            raise click.BadParameter(f"expected KIND=N[,N...] with N >= 1, got {value!r}")
        triggers[kind] = triggers.get(kind, ()) + ordinals
    return triggers


def accepted_models(values: tuple[str, ...]) -> dict[str, str]:
    """``--accept-model ID:GROUP`` values as {model id: option group}; click.BadParameter for a bad one."""
    accepted: dict[str, str] = {}
    for value in values:
        try:
            model, group = parse_accepted_model(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        accepted[model] = group
    return accepted


def _accepted_models(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    return accepted_models(values)


ACCEPT_MODEL_HELP = ("Accept a model the sandbox does not know, checking only the request's envelope and its "
                     "options.GROUP (repeatable): rehearse a new plugin's campaign end to end.")

_RATE = _FiniteRange(0.0, 1.0)


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind both origins to.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8585,
    show_default=True,
    help="API port (0: pick a free one).",
)
@click.option(
    "--file-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="File origin port. [default: PORT+1, or a free one when PORT is 0]",
)
@click.option("--api-key", default=None, help="Accept only this key (default: any non-empty key).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random choice.")
@click.option(
    "--quick", is_flag=True, help="Demo timings: jobs take 0.3-0.8 s, downloads 0.2 s, small files."
)
@click.option(
    "--generation-seconds",
    callback=_seconds_range,
    metavar="MIN,MAX",
    help="Range each job's generation time is drawn from. [default: 0.5,2]",
)
@click.option("--queue-seconds", type=_FiniteRange(min=0), default=None, help="Time a job stays queued.")
@click.option(
    "--created-seconds",
    type=_FiniteRange(min=0),
    default=None,
    help="Time a job stays 'created' before 'queued'.",
)
@click.option(
    "--prepare-seconds", type=_FiniteRange(min=0), default=None, help="Download preparation time."
)
@click.option("--video-bytes", type=click.IntRange(min=0), default=None, help="Size of every video file.")
@click.option("--plain-videos", is_flag=True,
              help="Serve one shipped 1 s clip for every video instead of drawing each request into its own.")
@click.option(
    "--url-ttl", type=_FiniteRange(min=0), default=None, help="Lifetime of signed file URLs (s)."
)
@click.option("--jobs-page-size", type=click.IntRange(min=1), default=None, help="Page size of GET /jobs.")
@click.option("--fail-rate", type=_RATE, default=0.0, help="Share of jobs that end 'failed'.")
@click.option("--rate-limit-rate", type=_RATE, default=0.0, help="Share of API requests answered 429.")
@click.option(
    "--retry-after",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Retry-After seconds on 429.",
)
@click.option("--server-error-rate", type=_RATE, default=0.0, help="Share of API requests answered 500 NOK.")
@click.option("--html-error-rate", type=_RATE, default=0.0, help="Share answered 502 with an HTML page.")
@click.option(
    "--lost-post-rate",
    type=_RATE,
    default=0.0,
    help="Share of accepted POSTs whose job is created but whose response is lost.",
)
@click.option(
    "--lost-post-mode",
    type=click.Choice(LOST_POST_MODES),
    default="mixed",
    show_default=True,
    help="How a POST response is lost: a 500, a dropped connection, or either.",
)
@click.option("--slow-rate", type=_RATE, default=0.0, help="Share of API requests delayed by --slow-seconds.")
@click.option(
    "--slow-seconds", type=_FiniteRange(min=0), default=1.0, show_default=True, help="Added latency."
)
@click.option("--truncate-rate", type=_RATE, default=0.0, help="Share of video downloads cut short.")
@click.option(
    "--expired-url-rate", type=_RATE, default=0.0, help="Share of ready download URLs already expired."
)
@click.option(
    "--download-error-rate",
    type=_RATE,
    default=0.0,
    help="Share of download preparations that end with status 'error'.",
)
@click.option("--odd-case-status", is_flag=True, help="Send job statuses as SUCCESS, Running, ...")
@click.option("--no-credits", is_flag=True, help="GET /jobs reports credits: null for every job.")
@click.option("--lost-post-status", type=click.IntRange(500, 599), default=500, show_default=True,
              help="Status of a lost POST's error answer (--lost-post-mode error).")
@click.option(
    "--fault-nth",
    "nth",
    multiple=True,
    callback=_nth_triggers,
    metavar="KIND=N[,N...]",
    help=f"Fire a fault on exactly the Nth event of its kind (repeatable). Kinds: {', '.join(FAULT_KINDS)}.",
)
@click.option("--accept-model", "accept_models", multiple=True, callback=_accepted_models, metavar="ID:GROUP",
              help=ACCEPT_MODEL_HELP)
def sandbox_command(**opts: Any) -> None:
    """Serve a local, faithful fake of the PhotoGPT video API (and a signed-URL file host) until Ctrl-C."""
    faults = Faults(
        fail_rate=opts["fail_rate"],
        rate_limit_rate=opts["rate_limit_rate"],
        retry_after_seconds=opts["retry_after"],
        server_error_rate=opts["server_error_rate"],
        html_error_rate=opts["html_error_rate"],
        lost_post_rate=opts["lost_post_rate"],
        lost_post_mode=opts["lost_post_mode"],
        slow_rate=opts["slow_rate"],
        slow_seconds=opts["slow_seconds"],
        truncate_rate=opts["truncate_rate"],
        expired_url_rate=opts["expired_url_rate"],
        download_error_rate=opts["download_error_rate"],
        odd_case_status=opts["odd_case_status"],
        no_credits=opts["no_credits"],
        lost_post_status=opts["lost_post_status"],
        **{f"{kind}_nth": ordinals for kind, ordinals in opts["nth"].items()},
    )
    cfg = SandboxConfig.quick() if opts["quick"] else SandboxConfig()
    cfg.seed = opts["seed"]
    cfg.api_key = opts["api_key"]
    cfg.faults = faults
    cfg.render_videos = not opts["plain_videos"]
    cfg.accept_models = opts["accept_models"]
    overrides = {
        "generation_seconds": opts["generation_seconds"],
        "queue_seconds": opts["queue_seconds"],
        "created_seconds": opts["created_seconds"],
        "prepare_seconds": opts["prepare_seconds"],
        "video_bytes": opts["video_bytes"],
        "url_ttl_seconds": opts["url_ttl"],
        "jobs_page_size": opts["jobs_page_size"],
    }
    for name, value in overrides.items():
        if value is not None:
            setattr(cfg, name, value)
    port = opts["port"]
    file_port = opts["file_port"]
    if file_port is None:
        file_port = port + 1 if 0 < port < 65535 else 0
    active = faults.active()
    if active:
        click.echo("Faults: " + ", ".join(f"{k}={v}" for k, v in sorted(active.items())))
    try:
        serve_forever(cfg, host=opts["host"], port=port, file_port=file_port)
    except OSError as exc:
        # A busy port or a bad address is a usage problem: say so, without a traceback.
        where = f"{opts['host']}, ports {port}/{file_port}"
        raise _CannotServe(f"cannot serve on {where}: {exc}") from None


if __name__ == "__main__":
    sandbox_command()
