"""The ledger's revision: a value that changes with every committed write of a campaign's content (its jobs,
videos, events and meta facts: anything a view of the ledger shows), so that what is made from the ledger (the
review page, the manifest: `io.stamps`) can tell whether it is still up to date without being made again.

It is moved on in the one place each store's write transactions go through, right before their COMMIT, and only
when the transaction changed something: a run with nothing to do leaves it as it was, and a write that is rolled
back takes its bump with it.

- SQLite (`SqliteLedger`): every write transaction is its `_transaction` or a batch's `_apply_ops`, on the one
  write connection; that connection's own count of changed rows (``total_changes``) says whether the transaction
  changed anything, whichever statement did it (`bump_if_changed`).
- PostgreSQL (`PostgresLedger`): every statement of a write transaction goes through its `PgTx`, which notes one
  that writes (`writes`: anything but a read or a savepoint's statements) and then adds the bump (`PG_BUMP`).
  The revision is the campaign's own row, so a write from another machine moves it too.

It reads as ``<epoch>.<n>``: ``epoch`` drawn when the ledger (on the shared ledger: the campaign's row) was made,
so that a ledger made again from scratch never repeats an earlier one's, and ``n`` the count of the transactions
that wrote since.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

#: The folder's ledger: one row, made by its migration.
SQLITE_READ = "SELECT epoch, n FROM revision"
SQLITE_BUMP = "UPDATE revision SET n = n + 1"
#: The shared ledger: a row per campaign, made by the campaign's first write (``?``: the campaign, a new epoch).
PG_READ = "SELECT epoch, n FROM revision WHERE campaign = ?"
PG_BUMP = ("INSERT INTO revision (campaign, epoch, n) VALUES (?, ?, 1) ON CONFLICT (campaign) DO UPDATE SET"
           " n = revision.n + 1")
#: What a statement that changes nothing begins with; anything else counts as a write.
_READS = ("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK")


class Revisioned(abc.ABC):
    """What `Ledger` offers to those who keep something made from it: its identity and its revision."""

    #: Set by `Ledger`: whether this is the shared ledger, and where it is (for the shared one, its URL without
    #: password and the campaign).
    shared: bool
    location: str

    @abc.abstractmethod
    def revision(self) -> str:
        """The revision of this campaign's content in the ledger, as committed now (by this handle or any other,
        on this machine or another): equal values mean nothing was written in between. Reads only."""

    def identity(self) -> str:
        """Which ledger this is, for a fingerprint beside `revision`: the shared ledger's location (its URL
        without password, and the campaign), or ``folder`` for an output folder's own (its epoch tells one file
        from another)."""
        return self.location if self.shared else "folder"


def shown(rows: Sequence[tuple[Any, ...]]) -> str:
    """The revision read as `SQLITE_READ` / `PG_READ` rows: ``<epoch>.<n>``; ``0`` for a campaign never written."""
    return f"{rows[0][0]}.{rows[0][1]}" if rows else "0"


def bump_if_changed(conn: Any, before: int) -> None:
    """Inside an SQLite write transaction: move the revision on if the connection changed any row since its count
    of changes was ``before`` (``total_changes`` when the transaction began)."""
    if conn.total_changes != before:
        conn.execute(SQLITE_BUMP)


def writes(sql: str) -> bool:
    """Whether a statement of a write transaction may change the ledger's content (only a read, and a savepoint's
    own statements, are known not to)."""
    return not sql.lstrip()[:9].upper().startswith(_READS)
