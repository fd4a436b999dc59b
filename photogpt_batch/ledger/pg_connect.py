"""Connecting to the shared ledger's PostgreSQL server, its schema version and migrations, and what to say when
that fails (never the password)."""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Any

from . import pg_lock
from .errors import LedgerError, LedgerTooNew, LedgerUnusable
from .migrations import PG_MIGRATIONS, PG_SCHEMA, PG_SCHEMA_VERSION
from .stores import redact, scrub

#: Serialises migrations of one database (a transaction-scoped advisory lock: safe behind PgBouncer).
_MIGRATION_LOCK = 0x50474254


def load_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise LedgerUnusable("a postgresql:// ledger needs psycopg: pip install 'photogpt-batch[postgres]'") from None
    # psycopg logs what it ignores while tearing down a lost connection ("error ignored terminating <Pipeline>"):
    # with no handler configured, Python would print it on the user's terminal beside the real message, which we
    # raise ourselves. An application that configures logging still sees it.
    logging.getLogger("psycopg").addHandler(_SILENT)
    return psycopg


_SILENT = logging.NullHandler()


@functools.lru_cache(maxsize=256)
def pg_sql(sql: str) -> str:
    """The shared SQL's ``?`` placeholders as psycopg's ``%s`` (no statement of ours has a literal ? or %)."""
    return sql.replace("?", "%s")


def connect(url: str) -> Any:
    """An autocommit connection to the shared ledger (``url`` given to libpq as a conninfo: ``PG*`` variables
    and ``~/.pgpass`` apply), its search path on the ledger's schema. Raises `LedgerUnusable`."""
    psycopg = load_psycopg()
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10, application_name=pg_lock.APPLICATION)
    except psycopg.Error as exc:
        raise unusable(url, exc) from exc
    try:
        conn.execute(f"SET search_path TO {PG_SCHEMA}")
        # A transaction left idle by a paused or stuck runner must not hold the lock row (and so a takeover)
        # for longer than the lock's own timeout; ours last milliseconds. A lock wait outlasts that, so a second
        # runner gets an answer rather than an error while the server ends a paused runner's transaction.
        idle = min(30.0, pg_lock.lock_timeout() / 2)
        conn.execute(f"SET idle_in_transaction_session_timeout = {int(idle * 1000)}")
        conn.execute(f"SET lock_timeout = {int((idle + 10) * 1000)}")
    except psycopg.Error as exc:
        conn.close()
        raise unusable(url, exc) from exc
    return conn


def unusable(url: str, exc: Exception) -> LedgerError:
    """The message for a failure to open the shared ledger at ``url``, without its password."""
    text = scrub(first_line(exc), url)
    where = redact(url)
    lower = text.lower()
    if "password authentication failed" in lower or "no password supplied" in lower:
        return LedgerUnusable(f"the shared ledger {where} refused the login ({text}): check the user, and the "
                              "password in PGPASSWORD or ~/.pgpass")
    if "permission denied" in lower:
        return LedgerUnusable(f"the shared ledger {where}: {text}. The role needs the right to create the "
                              f"ledger's schema and tables the first time (GRANT CREATE ON DATABASE ...), and to "
                              f"read and write them ({PG_SCHEMA}.*) afterwards")
    if "does not exist" in lower and "database" in lower:
        return LedgerUnusable(f"the shared ledger {where}: {text}; create the database first")
    if "lock timeout" in lower:
        return LedgerUnusable(f"the shared ledger {where}: another run is in the middle of a write on this "
                              "campaign's lock; try again in a moment")
    return LedgerUnusable(f"cannot reach the shared ledger {where} ({text}): check the URL, that the server runs "
                          "and accepts connections from this machine")


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def rollback_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):
        if not conn.broken and conn.info.transaction_status != 0:  # 0: idle, no transaction open
            conn.execute("ROLLBACK")


def schema_version(conn: Any, url: str) -> int | None:
    """The shared ledger's schema version, ``None`` when its tables were never created."""
    psycopg = load_psycopg()
    try:
        found = conn.execute("SELECT to_regclass(%s)", (f"{PG_SCHEMA}.schema_version",)).fetchone()[0]
        if found is None:
            return None
        rows = conn.execute("SELECT version FROM schema_version").fetchall()
    except psycopg.Error as exc:
        raise unusable(url, exc) from exc
    if len(rows) != 1:
        raise LedgerError(f"the shared ledger {redact(url)} is damaged (its schema_version table has "
                          f"{len(rows)} rows); it was left untouched")
    return rows[0][0]


def migrate(conn: Any, url: str, target: int = PG_SCHEMA_VERSION) -> None:
    """Create the ledger's schema, or bring it to ``target``, one transaction per step (refusing a newer one)."""
    psycopg = load_psycopg()
    version = schema_version(conn, url)
    if version is not None and version > PG_SCHEMA_VERSION:
        raise LedgerTooNew(redact(url), version, PG_SCHEMA_VERSION)
    if version == target:
        return
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}")
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            conn.execute("INSERT INTO schema_version (version) SELECT 0 WHERE NOT EXISTS (SELECT FROM schema_version)")
        while True:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                (step,) = conn.execute("SELECT version FROM schema_version").fetchone()
                if step >= target:
                    break
                for statement in PG_MIGRATIONS[step]:
                    conn.execute(statement)
                conn.execute("UPDATE schema_version SET version = %s", (step + 1,))
    except psycopg.Error as exc:
        raise unusable(url, exc) from exc
