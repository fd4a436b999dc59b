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
    from .base import Ledger
    from .records import LockHolder

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


_PASSWORD_PARAM = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def _libpq_parse(url: str) -> dict[str, str] | None:
    """libpq's own reading of ``url`` (psycopg's ``conninfo_to_dict``): ``None`` when psycopg is missing or
    libpq cannot parse it."""
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return None
    try:
        return {key: str(value) for key, value in conninfo_to_dict(url).items() if value is not None}
    except Exception:  # psycopg.ProgrammingError for text libpq refuses; nothing else is expected
        return None


def _odd(parsed: dict[str, str]) -> bool:
    """Whether libpq's reading looks like a password it did not take for one: an ``@`` in a host or database
    name, or a port that is not a number (``user:pa/ss@host`` reads as host ``user``, port ``pa``)."""
    return (any("@" in parsed.get(key, "") for key in ("host", "hostaddr", "dbname", "port"))
            or not all(p.strip().isdigit() for p in parsed.get("port", "0").split(",") if p.strip()))


def _without_password(url: str) -> str:
    """``url`` with its user part's password (as libpq finds it: from ``://`` to the first ``@`` before any
    ``/``) and every ``password=`` parameter removed."""
    scheme, sep, rest = url.partition("://")
    end = next((i for i, ch in enumerate(rest) if ch in "@/"), len(rest))
    if end < len(rest) and rest[end] == "@":
        user = rest[:end].split(":", 1)[0]
        rest = (user + "@" if user else "") + rest[end + 1:]
    head, question, query = rest.partition("?")
    if question:
        kept = [item for item in query.split("&") if not item.lower().startswith("password=")]
        rest = head + ("?" + "&".join(kept) if kept else "")
    return scheme + sep + rest


def _conservative(url: str) -> str:
    """What to show of a URL libpq cannot read plainly: everything before its last ``@`` is hidden, and every
    ``password=`` parameter's value up to the next ``&``."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "<hidden>@" + rest.rsplit("@", 1)[1]
    return _PASSWORD_PARAM.sub(r"\1<hidden>", scheme + sep + rest)


def redact(url: str) -> str:
    """``url`` without its password: what messages show. The password is the one libpq itself reads from the
    URL (in the user part or as a ``password=`` parameter, percent-encoded or not, ``?``, ``#``, ``@`` and
    ``/`` included); the result is read again to check that none is left. A URL libpq cannot read plainly
    (or without psycopg to ask) is shown with everything before its last ``@`` hidden."""
    parsed = _libpq_parse(url)
    if parsed is None or _odd(parsed):
        return _conservative(url)
    password = parsed.get("password")
    if not password:
        return url
    shown = _without_password(url)
    again = _libpq_parse(shown)
    if again is None or again.get("password") or password in shown:
        return _conservative(shown)
    return shown


def _secrets(url: str) -> set[str]:
    """Every form in which ``url``'s password may be quoted back: as written and as libpq decodes it."""
    found = {m.group(0)[1:-1] for m in re.finditer(r":[^@/]*@", url.split("://", 1)[-1].split("/", 1)[0])}
    found |= {m.group(0)[len(m.group(1)):] for m in _PASSWORD_PARAM.finditer(url)}
    parsed = _libpq_parse(url)
    if parsed is not None and parsed.get("password"):
        found.add(parsed["password"])
    found |= {unquote(secret) for secret in found}  # libpq quotes the password decoded
    return {secret for secret in found if secret}


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's message about ``url``) with the URL's password removed wherever it appears, even
    partly quoted back by a parse error."""
    text = text.replace(url, redact(url))
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, "<hidden>")
    return text


def has_password(url: str) -> bool:
    """Whether ``url`` itself carries a password (or may: one libpq cannot read plainly is taken to)."""
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
        from ..layout import ledger_path
        from .sqlite_file import folder_lock_holder

        return str(ledger_path(output)), folder_lock_holder(output, campaign)
    from .postgres import PostgresLedger

    with PostgresLedger.open_for_reading(output, url=url, campaign=campaign) as ledger:
        return ledger.location, ledger.lock_holder()
