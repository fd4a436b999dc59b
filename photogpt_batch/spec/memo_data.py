"""A `Campaign` as plain data (str, int, float, bool, None, tuple, list, dict) and back: what the spec's memo
(`spec.memo`) stores through `marshal`, which keeps tuples tuples and lists lists, so the campaign rebuilt is equal
to the one stored.

Each dataclass's fields are named here (`FIELDS`), in their order: converting a campaign whose class has a field
not named here fails (the memo is then not written), and a test compares the names with `dataclasses.fields`, so a
field added to `Campaign`, `PlannedJob`, `Need` or `LocalAsset` is never silently dropped from a memo.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..assets.kinds import LocalAsset
from ..campaign import Campaign, Need, PlannedJob

#: Each class's fields, in declaration order: jobs, needs and assets are stored as tuples in this order.
FIELDS: dict[type, tuple[str, ...]] = {
    Campaign: ("name", "output", "spec_path", "jobs", "diagnostics", "skipped", "budget_credits", "assets",
               "sequences", "needs"),
    PlannedJob: ("id", "model", "body", "content_hash", "warnings", "axes"),
    Need: ("job", "picked", "via"),
    LocalAsset: ("path", "sha256", "size", "kind", "ext", "mime"),
}


class Unhandled(TypeError):
    """A class whose fields are not those `FIELDS` names: this module must learn the new field first."""


def _check(cls: type) -> None:
    if tuple(f.name for f in fields(cls)) != FIELDS[cls]:
        raise Unhandled(f"{cls.__name__} has fields this module does not convert: update FIELDS and the converters")


def _same(value: Any) -> Any:
    return value


def _empty(value: list[Any]) -> list[Any]:
    """Diagnostics and skipped jobs: empty in every campaign a memo keeps (a load with diagnostics is not kept,
    and ``--only`` selects after the load)."""
    if value:
        raise ValueError("only a campaign with no diagnostics and nothing skipped is kept")
    return []


def _jobs_plain(jobs: list[PlannedJob]) -> tuple[list[Any], ...]:
    """The jobs by column, one list per field: 6 lists of pointers instead of a tuple per job (half the memory, in
    the memo written and in the one read)."""
    return tuple([getattr(job, name) for job in jobs] for name in FIELDS[PlannedJob])


def _jobs(columns: tuple[list[Any], ...]) -> list[PlannedJob]:
    # Positionally, in FIELDS' order (checked when stored): about 1 µs a job, against 2 for keyword arguments.
    return list(map(PlannedJob, *columns))


def _assets_plain(assets: dict[str, LocalAsset]) -> dict[str, tuple[Any, ...]]:
    rest = operator.attrgetter(*FIELDS[LocalAsset][1:])
    return {sha: (str(a.path), *rest(a)) for sha, a in assets.items()}


def _assets(plain: dict[str, tuple[Any, ...]]) -> dict[str, LocalAsset]:
    return {sha: LocalAsset(Path(path), *rest) for sha, (path, *rest) in plain.items()}


def _needs_plain(needs: dict[str, tuple[Need, ...]]) -> dict[str, tuple[tuple[Any, ...], ...]]:
    fields_of = operator.attrgetter(*FIELDS[Need])
    return {job: tuple(map(fields_of, each)) for job, each in needs.items()}


def _needs(plain: dict[str, tuple[tuple[Any, ...], ...]]) -> dict[str, tuple[Need, ...]]:
    return {job: tuple(Need(*n) for n in each) for job, each in plain.items()}


#: Campaign's fields: (to plain data, from plain data).
_CONVERT: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "name": (_same, _same),
    "output": (str, Path),
    "spec_path": (str, Path),
    "jobs": (_jobs_plain, _jobs),
    "diagnostics": (_empty, list),
    "skipped": (_empty, list),
    "budget_credits": (_same, _same),
    "assets": (_assets_plain, _assets),
    "sequences": (_same, _same),  # names to tuples of job ids: plain already
    "needs": (_needs_plain, _needs),
}


def campaign_plain(campaign: Campaign) -> dict[str, Any]:
    """``campaign`` as plain data; `Unhandled` when a class has a field this module does not know."""
    for cls in FIELDS:
        _check(cls)
    return {name: _CONVERT[name][0](getattr(campaign, name)) for name in FIELDS[Campaign]}


def campaign_from_plain(plain: dict[str, Any]) -> Campaign:
    """The campaign `campaign_plain` gave ``plain`` for."""
    return Campaign(**{name: _CONVERT[name][1](plain[name]) for name in FIELDS[Campaign]})
