"""The errors photogpt-batch raises for a user to see, in one tree. Each carries the exit code the command line
gives it (`BatchError.exit_code`), so the CLI maps errors to exit codes in one place (``cli._Commands.invoke``).

Exit codes: 0 all done; 1 a run failed (some jobs failed, are in doubt or not finished); 2 nothing was done
(bad spec, usage or configuration; a ledger that refuses; nothing was sent); 130 interrupted (state saved).

The hierarchy (module in brackets)::

    BatchError                      exit 1: the work failed; what was recorded is kept
    ├── UsageError                  exit 2: stopped before doing anything, nothing sent
    │   ├── SpecError               the spec cannot be used; carries its diagnostics [diagnostics]
    │   ├── ConfigError             a run cannot start: no key, a claimed folder, a locked ledger, ... [errors]
    │   ├── StatusError             the ledger cannot be read (plan, status) [errors]
    │   ├── FolderClaimed           the output folder belongs to another campaign or API [ownership]
    │   ├── NetworkSettingError     a proxy or CA variable that cannot work; also a ValueError [network]
    │   └── LedgerError             the ledger refuses, and says why and what to do [ledger.errors]
    │       ├── LedgerLocked        another runner holds the campaign
    │       ├── LedgerCorrupt       not a (readable) ledger; left untouched
    │       ├── LedgerUnusable, LedgerTooNew, ReadOnlyLedger, LedgerUrlError
    │       ├── IllegalTransition, UnknownRecord   (exit 1: a bug, not a user's mistake)
    │       └── LedgerWriteFailed   a statement failed after opening (a full disk); the run stops [ledger.errors]
    │           └── LedgerUnavailable   the shared ledger went away
    │               └── LockLost    another runner took the campaign's lock over
    │   ├── SelectionError          an --only pattern that matches no job; also a ValueError [spec.selection]
    │   ├── PicksError              a picks file that cannot be recorded [review.picks]
    │   └── ReviewPageError            the review page cannot be written [review.page]
    ├── RunAborted                  the API refused the key mid-run: nothing more was sent [errors]
    ├── ApiError                    an API call failed; the engine turns each into a job's state [client.errors]
    │   ├── BadRequest, AuthError, NotFound, Conflict, RateLimited, ServerError, ProtocolError
    │   └── TransportError, OutcomeUnknown (a POST whose fate is unknown: in doubt)
    ├── FetchError                  a file could not be downloaded (the engine retries) [engine.fetch]
    │   ├── UrlExpired, IncompleteDownload, SizeMismatch
    └── BudgetReached               the budget stops submission (the engine's signal, never shown) [spend.budget]
        └── PriceUnknown, BudgetClosed (a class that cannot be priced; the run is stopping)

Outside the tree, each caught where it is raised: `spec.templates.TemplateError` (a ValueError inside spec
expansion, which reports it as a located diagnostic) and `io.durable.LinkRefused` (an OSError: the engine fails that
one file).
"""

from __future__ import annotations

from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class BatchError(Exception):
    """The base of every photogpt-batch error; ``exit_code`` is what the command line exits with."""

    exit_code = EXIT_FAILED

    def to_json(self) -> dict[str, Any]:
        """What ``--json`` prints on stdout for this error."""
        return {"ok": False, "error": str(self)}


class UsageError(BatchError):
    """Stopped before doing anything: bad spec, usage or configuration, or a ledger that refuses. Nothing was
    sent."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """The run cannot start (nothing was sent): a missing key, a locked or unreadable ledger, ..."""


class StatusError(UsageError):
    """The ledger cannot be read (corrupt, foreign, unreachable, or from a newer version)."""


class RunAborted(BatchError):
    """The run cannot go on (a 401: the key is bad). Nothing more is sent; the ledger holds what was done."""
