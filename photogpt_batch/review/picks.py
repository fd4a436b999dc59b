"""Picks: the jobs a reviewer marked on the review page, exported as a file and recorded in the ledger.

The page exports ``<campaign>-picks.json``::

    {"format": "photogpt-batch-picks", "version": 1, "campaign": "demo", "exportedAt": "2026-...Z",
     "picks": [{"job": "hero", "pickedAt": "2026-...Z"}, ...]}

``review SPEC --picks FILE`` records them under the ledger's ``picks`` key (its key/value ``meta``, no table
of its own) as ``{"recordedAt": ..., "jobs": [{"job": ..., "pickedAt": ...}]}``, replacing earlier picks;
``status --json`` shows them. With ``--ledger`` (or ``$PHOTOGPT_BATCH_LEDGER``) the picks go to the shared
ledger, under the campaign's own meta.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..campaign import Campaign
from ..errors import UsageError
from ..ledger import Ledger, LedgerError, ledger_path

PICKS_KEY = "picks"
FILE_FORMAT = "photogpt-batch-picks"
#: A picks file is a short list of ids; anything far larger is not one.
MAX_FILE_BYTES = 64 << 20


class PicksError(UsageError):
    """A picks file that cannot be recorded (unreadable, malformed, another campaign's) or a ledger that
    cannot take it; nothing was recorded (exit 2)."""


@dataclass(frozen=True)
class RecordedPicks:
    """What `record_picks` recorded, and the ids it left out because the spec has no such job."""

    jobs: list[str]
    unknown: list[str]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_picks_file(path: Path, campaign: str) -> list[dict[str, Any]]:
    """The picks in an exported file, as ``[{"job": id, "pickedAt": text or None}]``; `PicksError` if the
    file is not a picks file of ``campaign``."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise PicksError(f"{path} is not a picks file (over {MAX_FILE_BYTES >> 20} MiB)")
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise PicksError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise PicksError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FILE_FORMAT or not isinstance(data.get("picks"), list):
        raise PicksError(f"{path} is not a picks file exported from the review page "
                         f"(expected {{\"format\": \"{FILE_FORMAT}\", \"picks\": [...]}})")
    if data.get("campaign") != campaign:
        raise PicksError(f"{path} holds picks of campaign {data.get('campaign')!r}, not {campaign!r}")
    picks: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(data["picks"]):
        if not isinstance(item, dict) or not isinstance(item.get("job"), str) or not item["job"]:
            raise PicksError(f"{path}: picks[{i}] must be an object with a job id, e.g. {{\"job\": \"hero\"}}")
        at = item.get("pickedAt")
        if item["job"] not in seen:
            seen.add(item["job"])
            picks.append({"job": item["job"], "pickedAt": at if isinstance(at, str) else None})
    return picks


def record_picks(campaign: Campaign, path: Path, ledger_url: str | None = None) -> RecordedPicks:
    """Record the picks in ``path`` in the ledger of ``campaign`` (its output folder's, or the shared one at
    ``ledger_url``), replacing earlier ones. Ids of jobs the spec does not have are left out and returned.
    Raises `PicksError`; nothing is recorded then."""
    picks = read_picks_file(path, campaign.name)
    known = {job.id for job in campaign.jobs}
    kept = [p for p in picks if p["job"] in known]
    unknown = [p["job"] for p in picks if p["job"] not in known]
    if ledger_url is None and not ledger_path(campaign.output).exists():
        raise PicksError(f"{campaign.output} has no ledger: run the campaign before recording picks")
    try:
        with Ledger.open_for_run(campaign.output, url=ledger_url, campaign=campaign.name) as ledger:
            if ledger_url is not None and not ledger.counts()["jobs"]:  # counted, not every record read
                # The shared ledger has every campaign's tables: a campaign never run there has nothing to pick.
                raise PicksError(f"campaign {campaign.name!r} has no jobs in {ledger.location}: run it before "
                                 "recording picks")
            owner = ledger.meta("campaign")
            if owner is not None and owner != campaign.name:
                raise PicksError(f"{campaign.output} belongs to campaign {owner!r}, not {campaign.name!r}")
            value = {"recordedAt": _now(), "jobs": kept}
            ledger.set_meta(PICKS_KEY, json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    except LedgerError as exc:
        raise PicksError(str(exc)) from exc
    except OSError as exc:
        raise PicksError(f"cannot write the ledger in {campaign.output}: {exc.strerror or exc}") from exc
    return RecordedPicks([p["job"] for p in kept], unknown)


def recorded_picks(ledger: Ledger) -> dict[str, Any] | None:
    """The picks recorded in ``ledger`` (``{"recordedAt", "jobs": [{"job", "pickedAt"}]}``), or None.
    A value that is not what `record_picks` writes reads as None: picks are a note, not state to fail on."""
    raw = ledger.meta(PICKS_KEY)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("jobs"), list):
        return None
    return {"recordedAt": value.get("recordedAt"),
            "jobs": [p for p in value["jobs"] if isinstance(p, dict) and isinstance(p.get("job"), str)]}


def picked_ids(campaign: Campaign, ledger_url: str | None = None) -> set[str]:
    """The ids of the picks recorded in the ledger of ``campaign`` (its output folder's, or the shared one at
    ``ledger_url``): what ``--only picked`` and ``--only unpicked`` select by. Raises `PicksError` (exit 2) when
    the ledger cannot be read or holds no picks: without them, ``unpicked`` would mean every job."""
    where = "the shared ledger" if ledger_url is not None else f"the ledger in {campaign.output}"
    try:
        with Ledger.open_for_reading(campaign.output, url=ledger_url, campaign=campaign.name) as ledger:
            picks = recorded_picks(ledger)
    except LedgerError as exc:
        raise PicksError(f"--only picked/unpicked: {exc}") from exc
    except OSError as exc:
        raise PicksError(f"--only picked/unpicked: cannot read {where}: {exc.strerror or exc}") from exc
    if picks is None:
        raise PicksError(f"--only picked/unpicked: no picks are recorded for campaign {campaign.name!r} in {where}; "
                         "record them with: photogpt-batch review SPEC --picks FILE")
    return {p["job"] for p in picks["jobs"]}
