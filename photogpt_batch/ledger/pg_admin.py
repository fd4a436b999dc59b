"""What the ``ledger`` commands do to the shared ledger's locks, by URL (each opens and closes a connection)."""

from __future__ import annotations

from . import pg_lock
from .pg_connect import connect, schema_version
from .records import LockHolder


def list_locks(url: str) -> list[LockHolder]:
    """Every held campaign lock in the shared ledger at ``url`` (none in a database never used)."""
    with connect(url) as conn:
        if schema_version(conn, url) is None:
            return []
        return pg_lock.holders(conn)


def lock_holder(url: str, campaign: str) -> LockHolder | None:
    """Who holds ``campaign``'s lock in the shared ledger at ``url``."""
    with connect(url) as conn:
        if schema_version(conn, url) is None:
            return None
        return pg_lock.holder(conn, campaign)


def break_lock(url: str, campaign: str) -> LockHolder | None:
    """Break ``campaign``'s lock; returns who held it (``None``: nobody did)."""
    with connect(url) as conn:
        if schema_version(conn, url) is None:
            return None
        return pg_lock.break_lock(conn, campaign)
