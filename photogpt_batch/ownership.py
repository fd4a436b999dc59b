"""Which campaign and which API an output folder's jobs belong to, recorded in its ledger.

Jobs live on one API. Polled through another, a job is "unknown to the server" and marked failed; and a
rehearsal's videos (the sandbox's) must never pass for paid ones. Two campaigns in one folder would take
each other's same-named jobs for changed ones, paying again and overwriting videos. So the first run that
sends something records both, and a later run through another *kind* of API (the in-process sandbox, a
server on this machine, a remote API) or for another campaign is refused before anything is sent.

A folder where nothing was ever sent is not held to anything: a run that failed at ``/ping`` (a mistyped
URL) must not lock the folder to that URL. Between two APIs of the same kind (``localhost`` and
``127.0.0.1``, the vendor moving its API to a new host) the record follows, with a warning.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from yarl import URL

from .base_url import DEFAULT_BASE_URL
from .errors import UsageError
from .io.durable import describe
from .layout import LEDGER_DIR, SANDBOX_JOBS_FILE
from .ledger import Ledger, LedgerError
from .ledger.folder import check_folder_owner, claim_folder_for

#: The recorded API of jobs made by ``run --sandbox`` (its jobs live in ``sandbox-jobs.jsonl``).
SANDBOX = "sandbox"
#: The recorded API of jobs made through the default base URL, whatever host that is in a later release.
DEFAULT = "default"
#: Where ``run --sandbox`` keeps its sandbox's jobs, beside the ledger, so an interrupted rehearsal resumes
#: (and, here, how a folder recorded before this module is known as a rehearsal).
SANDBOX_JOBS = Path(LEDGER_DIR) / SANDBOX_JOBS_FILE


class FolderClaimed(UsageError):
    """The folder's jobs belong to another campaign, or live on another kind of API."""


def endpoint_of(base_url: str | None, sandbox: bool) -> str:
    """What the ledger records for a run through ``base_url`` (or the in-process sandbox)."""
    if sandbox:
        return SANDBOX
    origin = str(URL(base_url or DEFAULT_BASE_URL).origin())
    return DEFAULT if origin == str(URL(DEFAULT_BASE_URL).origin()) else origin


def _kind(endpoint: str) -> str:
    if endpoint == SANDBOX:
        return "the sandbox of run --sandbox"
    if endpoint == DEFAULT:
        return "a remote API"  # like any other: a proxy in front of it is the same API
    host = URL(endpoint).host or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        local = False
    return "a server on this machine" if local else "a remote API"


def same_kind(a: str, b: str) -> bool:
    """Whether two recorded APIs are of one kind (the sandbox, a server on this machine, a remote API)."""
    return _kind(a) == _kind(b)


def _describe(endpoint: str) -> str:
    return {SANDBOX: "the sandbox (run --sandbox)", DEFAULT: DEFAULT_BASE_URL}.get(endpoint, endpoint)


def _legacy_endpoint(ledger: Ledger, output: Path) -> str | None:
    """For a folder whose ledger predates the record: ``sandbox`` if its jobs are the in-process sandbox's."""
    try:
        lines = (output / SANDBOX_JOBS).read_bytes().splitlines()
    except OSError:
        return None
    created = set()
    for line in lines:
        try:
            created.add(json.loads(line).get("job_id"))
        except (ValueError, AttributeError, RecursionError):
            continue
    return SANDBOX if created & ledger.remote_ids() else None


def claim_folder(ledger: Ledger, output: Path, campaign: str, endpoint: str) -> str | None:
    """Record (or check) that ``output``'s jobs belong to ``campaign`` and live on ``endpoint``.

    Raises `FolderClaimed` for another campaign or another kind of API; returns a warning to show when the
    API changed within its kind. Call it once the API has answered, before anything is sent.
    """
    sent = ledger.anything_sent()
    recorded = ledger.meta("endpoint") or (_legacy_endpoint(ledger, output) if sent else None)
    owner = ledger.meta("campaign")
    warning = None
    if sent and recorded is not None and recorded != endpoint:
        if _kind(recorded) != _kind(endpoint):
            raise FolderClaimed(
                f"the jobs in {output} were made through {_describe(recorded)}, and this run would go through "
                f"{_describe(endpoint)} ({_kind(endpoint)}), which does not know them: give this run its own "
                "folder with --output")
        warning = (f"warning: the jobs in {output} were made through {_describe(recorded)}; this run goes "
                   f"through {_describe(endpoint)}, and they are polled there from now on")
    if sent and owner is not None and owner != campaign:
        raise FolderClaimed(
            f"{output} belongs to campaign {owner!r}, not {campaign!r}: two campaigns in one folder would overwrite "
            "each other's videos and pay again for each other's jobs. Give this one its own output (or, if the "
            "campaign was renamed, put the old name back)")
    try:
        # The folder's own claim: a shared ledger is keyed by campaign, so only the folder can say whose it is.
        check_folder_owner(output, campaign)
        if ledger.shared:
            claim_folder_for(output, campaign)
    except LedgerError as exc:
        raise FolderClaimed(str(exc)) from exc
    except OSError as exc:
        raise FolderClaimed(f"cannot record the campaign that {output} belongs to: {describe(exc)}") from exc
    if recorded != endpoint:
        ledger.set_meta("endpoint", endpoint)
    if owner != campaign:
        ledger.set_meta("campaign", campaign)
    return warning
