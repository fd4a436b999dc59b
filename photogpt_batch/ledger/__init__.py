"""The ledger: a campaign's single source of truth, in the output folder (SQLite) or shared (PostgreSQL).

Every step of the pipeline is a state transition recorded here *before* the action that depends on it:
the intent to submit before the POST, the jobId as soon as it arrives, a file only once it is complete and
renamed into place. A crash, a Ctrl-C or a rerun therefore resumes from what the ledger says, and a job is
never paid for twice without the user deciding so (``in_doubt``).

Jobs are rows keyed by an integer, called ``row`` everywhere (`JobRecord.row`, the ops' and ``mark_...``
methods' ``row``; the ``jobs.id`` column); a spec job id can have several *versions* (one per content hash) of
which exactly one is ``current``: when a job's content changes in the spec, `Ledger.register` records a new
version and keeps the old one, with its remote job and files, for the record.

`Ledger` is the abstract interface; a store (`SqliteLedger`, `PostgresLedger`) implements it and raises only the
ledger's own errors (`LedgerWriteFailed`, `LedgerUnavailable`, ...), never its driver's. Writes are ops, written
one way: ``await ledger.write(*ops)``, the group commit (`writer`): concurrent callers' ops are committed
together, each caller resuming once its ops are durable; the ``mark_...`` methods are its shorthands.
`Ledger.register`, `Ledger.recover_interrupted` and `Ledger.set_meta` are synchronous steps for before a run's
transitions (start-up) or outside a run.

Every transition is checked against `JOB_TRANSITIONS` / `VIDEO_TRANSITIONS`; an illegal one raises
`IllegalTransition` and changes nothing (other transitions in the same batch still commit).

The package: `states` (state machines), `records`, `ops` (writes as values), `migrations` (both stores'),
`writer` (group commit), `base` (`Ledger`, the interface), `revision` (what every committed write moves on, for
the views made from the ledger), `content` (a campaign's content, for ``ledger push`` / ``pull``), `sqlite` /
`sqlite_file` (the folder's store), `postgres` / `pg_tx` / `pg_connect` / `pg_lock` / `pg_admin` (the shared
store, its write transactions, its connections and migrations, its run lock, the ``ledger`` commands' lock
handling), `stores` (choosing one from ``--ledger``),
`transfer` (``ledger push`` / ``pull``), `folder` (checks of a folder against its ledger).
"""

from __future__ import annotations

from ..layout import LEDGER_DIR, LEDGER_FILE, LOCK_FILE, ledger_path
from .base import Ledger
from .errors import (
    IllegalTransition,
    LedgerCorrupt,
    LedgerError,
    LedgerLocked,
    LedgerTooNew,
    LedgerUnavailable,
    LedgerUnusable,
    LedgerWriteFailed,
    LockLost,
    ReadOnlyLedger,
    UnknownRecord,
)
from .migrations import APPLICATION_ID, MIGRATIONS, PG_MIGRATIONS, PG_SCHEMA_VERSION, SCHEMA_VERSION
from .ops import JobTransition, MoveVideo, Op, SetCredits, SetMeta, VideoTransition
from .records import (
    Event,
    JobBrief,
    JobRecord,
    LockHolder,
    ReconciledJob,
    Reconciliation,
    VideoBrief,
    VideoRecord,
    disposition,
    pending_videos,
)
from .sqlite import SqliteLedger
from .states import JOB_TRANSITIONS, VIDEO_TRANSITIONS, Disposition, JobState, VideoState
from .stores import LEDGER_ENV, LedgerUrlError, has_password, ledger_url, redact, where_and_holder
from .writer import LAZY_COMMIT_DELAY, MAX_BATCH

__all__ = [
    "APPLICATION_ID",
    "JOB_TRANSITIONS",
    "LAZY_COMMIT_DELAY",
    "LEDGER_DIR",
    "LEDGER_ENV",
    "LEDGER_FILE",
    "LOCK_FILE",
    "MAX_BATCH",
    "MIGRATIONS",
    "PG_MIGRATIONS",
    "PG_SCHEMA_VERSION",
    "SCHEMA_VERSION",
    "VIDEO_TRANSITIONS",
    "Disposition",
    "Event",
    "IllegalTransition",
    "JobBrief",
    "JobRecord",
    "JobState",
    "JobTransition",
    "Ledger",
    "LedgerCorrupt",
    "LedgerError",
    "LedgerLocked",
    "LedgerTooNew",
    "LedgerUnavailable",
    "LedgerUnusable",
    "LedgerUrlError",
    "LedgerWriteFailed",
    "LockHolder",
    "LockLost",
    "MoveVideo",
    "Op",
    "ReadOnlyLedger",
    "ReconciledJob",
    "Reconciliation",
    "SetCredits",
    "SetMeta",
    "SqliteLedger",
    "UnknownRecord",
    "VideoBrief",
    "VideoRecord",
    "VideoState",
    "VideoTransition",
    "disposition",
    "has_password",
    "ledger_path",
    "ledger_url",
    "pending_videos",
    "redact",
    "where_and_holder",
]
