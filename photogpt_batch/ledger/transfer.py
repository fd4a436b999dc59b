"""Moving a campaign between an output folder's SQLite ledger and the shared PostgreSQL ledger (``ledger push``
and ``ledger pull``): every job version, video, event, credit and meta fact, with its times.

A campaign's content is compared as a whole, with row ids replaced by their order (ids differ between stores):
copying onto a ledger that already holds the same content changes nothing, and onto one that holds other
content of that campaign is refused, so nothing recorded is ever overwritten or merged by guess.

One campaign, one ledger: once copied, the source is marked as moved (where to, when; the ``moved`` meta fact,
which is not part of the content compared), and a run on it is refused, naming the ledger to use
(`moved_refusal`); otherwise the old copy would go on paying for jobs the new one never hears of. A moved
source is not copied anywhere else either. Copying the same content back (``pull`` after ``push``, or the
reverse, with no run in between) moves the campaign back: the mark goes to the other side.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..layout import ledger_path
from .base import Ledger
from .errors import LedgerError
from .sqlite import SqliteLedger
from .stores import redact

#: The meta fact that marks a ledger whose campaign was copied elsewhere: JSON {"to", "kind", "at"}.
MOVED = "moved"

def dump(ledger: Ledger) -> dict[str, Any]:
    """The campaign's whole content, store-independent (`Ledger.export_content`), without the ``moved`` mark,
    which is not part of the content compared."""
    content = ledger.export_content()
    content["meta"] = {key: value for key, value in content["meta"].items() if key != MOVED}
    return content


def moved_refusal(ledger: Ledger) -> str | None:
    """Why a run may not use ``ledger``: its campaign was moved to another ledger (``None``: it was not)."""
    raw = ledger.meta(MOVED)
    if not raw:
        return None
    try:
        moved = json.loads(raw)
    except ValueError:
        moved = None
    if not isinstance(moved, dict):
        moved = {}
    to, at = moved.get("to", "another ledger"), moved.get("at", "an unknown time")
    if moved.get("kind") == "shared":
        use = (f"run it there: --ledger {to} (or PHOTOGPT_BATCH_LEDGER; the password comes from PGPASSWORD or "
               "~/.pgpass)")
    else:
        use = f"run it there: --output {to}, without --ledger or PHOTOGPT_BATCH_LEDGER"
    return (f"{ledger.location} was moved to {to} on {at}: that ledger holds this campaign now, and a run here "
            f"would pay again for jobs it does not know. To go on, {use}. Nothing was sent")


def _copy(source: Ledger, target: Ledger, what: str, to: dict[str, str]) -> str:
    content = dump(source)
    present = dump(target)
    counts = f"{len(content['jobs'])} job version(s), {len(content['videos'])} video(s), {len(content['events'])} " \
             "event(s)"
    if present == content:
        said = f"{what}: already there, nothing changed ({counts})"
    else:
        refusal = moved_refusal(source)
        if refusal is not None:  # a second copy of a campaign already moved: two ledgers would pay apart
            raise LedgerError(f"nothing was copied: {refusal.removesuffix('. Nothing was sent')}")
        if present["jobs"] or present["meta"]:
            raise LedgerError(f"{target.location} already holds this campaign with other content "
                              f"({len(present['jobs'])} job version(s)); nothing was copied. Copying would mix two "
                              "histories: choose another campaign name, or use that ledger as it is")
        target.import_content(content)
        said = f"{what}: copied {counts}"
    # The target is where the campaign runs from now on; the source is refused to runs, naming it.
    if target.meta(MOVED):
        target.set_meta(MOVED, "")
    source.set_meta(MOVED, json.dumps({**to, "at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}))
    return said


def push(output: Path, url: str, campaign: str) -> str:
    """Copy the folder's ledger of ``campaign`` into the shared ledger at ``url``, holding both locks; the
    folder's ledger is then marked as moved there."""
    if not ledger_path(output).exists():
        raise LedgerError(f"{output} has no ledger to push ({ledger_path(output)} is missing)")
    from .postgres import PostgresLedger

    with SqliteLedger.open_for_run(output) as source, \
            PostgresLedger.open_for_run(output, url=url, campaign=campaign, check_folder=False,
                                        lock_folder=False) as target:
        return _copy(source, target, f"pushed {source.location} to {target.location}",
                     {"kind": "shared", "to": redact(url)})


def pull(output: Path, url: str, campaign: str) -> str:
    """Copy ``campaign`` from the shared ledger at ``url`` into the folder's own ledger, holding both locks; the
    campaign on the shared ledger is then marked as moved into the folder."""
    from .postgres import PostgresLedger

    with PostgresLedger.open_for_run(output, url=url, campaign=campaign, check_folder=False,
                                     lock_folder=False) as source, \
            SqliteLedger.open_for_run(output, check_folder=False) as target:
        return _copy(source, target, f"pulled {source.location} into {target.location}",
                     {"kind": "folder", "to": str(Path(output).absolute())})
