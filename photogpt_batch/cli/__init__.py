"""The ``photogpt-batch`` command line: parse, call the library, print, pick the exit code.

One module per command family: `spec` (validate, models, schema), `plan` (plan, status), `run` (run, its
question before paying and its resume command), `review`, `doctor`, `ledger` (the ``--ledger`` option and the
``ledger`` group); `common` holds what they share. ``sandbox`` is imported only when used.

Exit codes: 0 all done; 1 some jobs failed or are in doubt; 2 bad spec, usage or configuration (nothing
sent); 130 interrupted (state saved). An error the library raises carries its own (`errors.BatchError`), and
`_Commands.invoke` is the one place that turns it into a message and an exit code.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys

import click

from .. import __version__
from ..errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, BatchError
from ..io.durable import describe
from ..io.jsonstream import needs_ascii
from . import doctor, plan, review, run, spec
from .common import JSON_ASKED, report_error
from .ledger import ledger_group, redact_argv
from .run import NOT_REPEATED_ON_RESUME


class _Commands(click.Group):
    """The command group: reports the library's errors, and imports ``sandbox`` only when used (it brings in
    the server)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "sandbox"])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "sandbox":
            from ..sandbox.cli import sandbox_command

            return sandbox_command
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; an error of the tree (`errors`) is reported (as JSON too when ``--json`` was
        given) and exits with the code it carries."""
        try:
            return super().invoke(ctx)
        except BatchError as exc:
            report_error(exc, bool(ctx.meta.get(JSON_ASKED)))
            raise click.exceptions.Exit(exc.exit_code) from exc


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="photogpt-batch")
def cli() -> None:
    """Make a folder of generated videos match a campaign YAML, through the PhotoGPT API."""


for _command in (spec.validate, plan.plan, spec.models, spec.schema, run.run, plan.status, review.review,
                 doctor.doctor, ledger_group):
    cli.add_command(_command)


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
