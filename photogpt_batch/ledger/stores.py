"""Choosing the store: the output folder's SQLite ledger by default, or a shared PostgreSQL ledger named by a
``postgresql://`` URL (``--ledger`` or ``PHOTOGPT_BATCH_LEDGER``).

The URL follows libpq's conventions (it is handed to libpq as a conninfo string: ``PG*`` variables and
``~/.pgpass`` fill in what it leaves out). Its password never appears in a message: `redact` removes it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from .errors import LedgerError

if TYPE_CHECKING:
    from .base import Ledger, LockHolder

#: The environment variable naming the shared ledger (what ``--ledger`` overrides).
LEDGER_ENV = "PHOTOGPT_BATCH_LEDGER"
_SCHEMES = ("postgresql://", "postgres://")


class LedgerUrlError(LedgerError):
    """The ledger URL is not one this tool can use."""


def ledger_url(option: str | None = None) -> str | None:
    """The shared ledger's URL: ``option`` (``--ledger``) if given, else ``$PHOTOGPT_BATCH_LEDGER``; ``None``
    (blank counts as unset) for the output folder's own ledger. Raises `LedgerUrlError` for anything but a
    ``postgresql://`` URL."""
    url = option if option is not None else os.environ.get(LEDGER_ENV)
    if url is None or not url.strip():
        return None
    url = url.strip()
    if not url.lower().startswith(_SCHEMES):
        source = "--ledger" if option is not None else LEDGER_ENV
        raise LedgerUrlError(f"{source} must be a postgresql:// URL (such as postgresql://user@host/db), not "
                             f"{redact(url)!r}; leave it unset for the output folder's own ledger")
    return url


_PASSWORD = re.compile(r"^(?P<head>[a-z]+://[^:/@?#]*):[^@/?#]*@", re.IGNORECASE)
_PASSWORD_PARAM = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def redact(url: str) -> str:
    """``url`` without its password (in the user part or as a ``password=`` parameter): what messages show."""
    return _PASSWORD_PARAM.sub(r"\1<hidden>", _PASSWORD.sub(r"\g<head>@", url))


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's message about ``url``) with the URL's password removed wherever it appears, even
    partly quoted back by a parse error."""
    secrets = [m.group(0)[1:-1] for m in re.finditer(r":[^@/?#]*@", url.split("://", 1)[-1].split("/", 1)[0])]
    secrets += [m.group(0)[len(m.group(1)):] for m in _PASSWORD_PARAM.finditer(url)]
    secrets += [unquote(secret) for secret in secrets]  # libpq quotes the password decoded
    text = text.replace(url, redact(url))
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "<hidden>")
    return text


def has_password(url: str) -> bool:
    """Whether ``url`` itself carries a password."""
    return redact(url) != url


def open_store(output: Path, url: str | None, campaign: str | None, *, write: bool) -> Ledger:
    """The ledger of ``campaign`` (output folder ``output``): SQLite there when ``url`` is ``None``, else the
    shared PostgreSQL ledger at ``url``. With ``write``, holding the campaign's lock."""
    if url is None:
        from .sqlite import SqliteLedger

        return SqliteLedger.open_for_run(output) if write else SqliteLedger.open_for_reading(output)
    if not campaign:
        raise LedgerError("a shared ledger needs the campaign's name")
    from .postgres import PostgresLedger

    if write:
        return PostgresLedger.open_for_run(output, url=url, campaign=campaign)
    return PostgresLedger.open_for_reading(output, url=url, campaign=campaign)


def where_and_holder(output: Path, url: str | None, campaign: str) -> tuple[str, LockHolder | None]:
    """Where ``campaign``'s ledger is (its file, or the database URL without password) and who holds its
    run lock (``None``: nobody). For ``plan``, ``status`` and ``doctor``; raises a `LedgerError` for a
    ledger that cannot be read."""
    if url is None:
        from .sqlite_file import folder_lock_holder, ledger_path

        return str(ledger_path(output)), folder_lock_holder(output, campaign)
    from .postgres import PostgresLedger

    with PostgresLedger.open_for_reading(output, url=url, campaign=campaign) as ledger:
        return ledger.location, ledger.lock_holder()
