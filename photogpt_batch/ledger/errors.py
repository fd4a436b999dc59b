"""The ledger's errors. Each says what is wrong and what to do; none is raised after a partial change."""

from __future__ import annotations

from pathlib import Path

from ..errors import EXIT_FAILED, UsageError


class LedgerError(UsageError):
    """Something is wrong with the ledger or with what was asked of it."""


class LedgerLocked(LedgerError):
    """Another runner holds the campaign: the output folder's lock, or the shared ledger's lock row."""

    def __init__(self, folder: Path | str, pid: int | None, message: str | None = None) -> None:
        holder = f"process {pid}" if pid else "another process"
        super().__init__(message or (
            f"{folder} is in use by another photogpt-batch run ({holder}); "
            "wait for it to finish or stop it, then run again"))
        self.folder = folder
        self.pid = pid


class LedgerCorrupt(LedgerError):
    """The file at the ledger's path is not a (readable) photogpt-batch ledger. It is never modified."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}; it was left untouched: move it away or choose another output folder")
        self.path = path


class LedgerUnusable(LedgerError):
    """The ledger cannot be opened as asked: locked by another program, unreachable, not writable. Nothing
    changed."""


class LedgerTooNew(LedgerError):
    """The ledger was written by a newer photogpt-batch, with a schema this one does not know."""

    def __init__(self, path: Path | str, version: int, known: int | None = None) -> None:
        from .migrations import SCHEMA_VERSION

        where = "output folder" if isinstance(path, Path) else "shared ledger"
        super().__init__(
            f"{path} has ledger schema version {version}, but this photogpt-batch knows versions up to "
            f"{known if known is not None else SCHEMA_VERSION}: upgrade photogpt-batch to use this {where}"
        )
        self.path = path
        self.version = version


class IllegalTransition(LedgerError):
    """A transition the state machine does not allow; nothing was changed."""

    exit_code = EXIT_FAILED  # a bug, not a user's mistake


class UnknownRecord(LedgerError):
    """A transition names a job row or video that is not in the ledger."""

    exit_code = EXIT_FAILED  # a bug, not a user's mistake


class ReadOnlyLedger(LedgerError):
    """A write was attempted on a ledger opened for reading."""


class LedgerWriteFailed(LedgerError):
    """The ledger failed a statement after it was opened, so a transition may not be recorded: the folder's
    SQLite file could not be written or read (a full disk, an I/O error), or the shared ledger refused. Nothing
    that depends on it may be sent: the engine stops on it cleanly, and what was recorded is kept.

    Both stores raise it (and `LedgerUnavailable`, one kind of it) instead of their driver's errors, so the rest
    of the package never catches ``sqlite3`` or ``psycopg`` errors."""


class LedgerUnavailable(LedgerWriteFailed):
    """A transition could not be recorded: the shared ledger's server went away, or this runner lost the
    campaign's lock to another (fencing). Nothing depending on it may be sent."""


class LockLost(LedgerUnavailable):
    """Another runner took the campaign's lock over (this one was paused or cut off past the timeout)."""
