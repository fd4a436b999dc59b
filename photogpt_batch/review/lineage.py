"""Lineage on the review page: what each job comes from and leads to, its place in a chain, and the sequences.

All of it is derived from the spec (`Campaign.needs`, `Campaign.sequences`), the picks recorded in the ledger and
the files in the output folder; nothing here is stored. The page's script turns these fields into links between
tiles (`lineage.js`).

- A **need** of a job is shown as ``from draft-3`` when it is gated on picks or uses the other job's output
  (``from:``), else ``after shot-1``. A job that is gated on a pick and not sent yet says what it waits for.
- A **chain** is a run of jobs each of which needs only the one before, which no other job needs (``a → b → c``
  by plain needs or ``from:``). A need gated on picks is a selection (drafts to finals), not a step of a chain.
- A **sequence** is shown with its file when one is on disk, else with what it waits for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..campaign import Campaign, Need
from ..sequences.state import sequence_states

#: Ledger states of a job version that has not been sent: a gate on picks can still hold it back.
_NOT_SENT = (None, "planned")


def need_label(need: Need) -> str:
    """How a tile names one of its needs: ``from draft-3`` (picked from, or its output used), ``after shot-1``."""
    return f"{'from' if need.picked or need.via == 'from' else 'after'} {need.job}"


def follower_label(job: str, need: Need) -> str:
    """How the needed job's tile names the job that follows it: ``final: final-3`` or ``next: shot-2``."""
    return f"{'final' if need.picked else 'next'}: {job}"


def chains(needs: Mapping[str, tuple[Need, ...]], order: Iterable[str]) -> list[list[str]]:
    """The campaign's chains of two jobs or more, each in chain order; chains listed by their first job's place
    in ``order`` (the spec's order of jobs). A link ``a → b`` is a chain's when ``b`` needs only ``a`` (not gated
    on picks) and nothing else needs ``a``."""
    followers: dict[str, list[str]] = {}
    for job, job_needs in needs.items():
        for need in job_needs:
            followers.setdefault(need.job, []).append(job)
    nxt: dict[str, str] = {}
    for job, job_needs in needs.items():
        if len(job_needs) == 1 and not job_needs[0].picked and len(followers[job_needs[0].job]) == 1:
            nxt[job_needs[0].job] = job
    starts = set(nxt) - set(nxt.values())
    found = []
    for job in order:
        if job in starts:
            chain = [job]
            while chain[-1] in nxt and nxt[chain[-1]] not in chain:  # a cycle is refused at load; never loop
                chain.append(nxt[chain[-1]])
            found.append(chain)
    return found


def _picked(picks: dict[str, Any] | None) -> set[str]:
    return {p["job"] for p in picks["jobs"]} if picks else set()


def add_lineage(campaign: Campaign, jobs: list[dict[str, Any]], picks: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Give each page entry of ``jobs`` (from `data._job`) its ``needs``, ``followers`` and ``chain``; returns the
    entries reordered so that each chain's jobs sit together, in chain order, where its first job was. A campaign
    whose jobs need nothing gets no lineage fields: its page stays as small as it was (the script reads them as
    absent)."""
    if not campaign.needs:
        return jobs
    by_id = {job["id"]: job for job in jobs}
    picked = _picked(picks)
    for job in jobs:
        job_needs = campaign.needs.get(job["id"], ())
        sent = job["ledgerState"] not in _NOT_SENT
        job["needs"] = [{"job": n.job, "picked": n.picked, "via": n.via, "label": need_label(n),
                         "onPage": n.job in by_id, "pickRecorded": n.job in picked,
                         "gate": (f"waiting for {n.job} to be picked" if n.picked and not sent and n.job not in picked
                                  else None)} for n in job_needs]
        job["sent"] = sent
        job["followers"] = []
        job["chain"] = None
    for job_id, job_needs in campaign.needs.items():
        for need in job_needs:
            if need.job in by_id:
                by_id[need.job]["followers"].append({"job": job_id, "label": follower_label(job_id, need),
                                                     "onPage": job_id in by_id})
    place: dict[str, list[str]] = {}
    for chain in chains(campaign.needs, [job["id"] for job in jobs]):
        members = [job for job in chain if job in by_id]
        for k, job_id in enumerate(chain, 1):
            if job_id in by_id:
                by_id[job_id]["chain"] = {"first": chain[0], "position": k, "length": len(chain),
                                          "jobs": chain, "label": f"shot {k} of {len(chain)}"}
        if members:
            place[members[0]] = members
    # A chain's jobs go where its first one on the page is; the others keep the spec's order.
    moved = {job_id for members in place.values() for job_id in members}
    ordered: list[dict[str, Any]] = []
    for job in jobs:
        if job["id"] in place:
            ordered.extend(by_id[job_id] for job_id in place[job["id"]])
        elif job["id"] not in moved:
            ordered.append(job)
    return ordered


def sequence_tiles(campaign: Campaign, entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each of the spec's sequences as the page shows it: its jobs, how it stands (``built``, ``outdated``,
    ``unbuilt``, ``waiting``), its file when one is on disk, and what it waits for."""
    output: Path = campaign.output
    tiles = []
    for state in sequence_states(output, campaign.sequences, entries):
        tiles.append({
            "name": state.name,
            "jobs": list(state.jobs),
            "standing": state.standing,
            # An outdated file is still shown (it was paid for), with the tile saying it is out of date.
            "src": state.path if state.record is not None else None,
            "waiting": list(state.waiting),
            "label": state.describe(),
        })
    return tiles
