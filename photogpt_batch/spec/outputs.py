"""Outputs as inputs: a reference item ``{from: JOB, frame: last}`` (``referenceImages``) or ``{from: JOB}``
(``referenceVideos``) names another job's first video, or a frame of it.

Three steps, as for ``file:`` (`spec.files`):

- before the model validates a job, each ``from:`` item becomes an ``output:`` reference without its
  upstream's hash (`spec.files.from_item`), so the model checks it where it checks a URL;
- `FromPlaces` keeps the jobs that have ``from:`` items as they stream by, to locate the errors found later;
- after every job is validated, `link_outputs` checks the ids (an unknown id, a job that needs itself, a cycle),
  fills in each reference the upstream's content hash (upstream first, so it is recursive: a change anywhere up
  the chain changes every job below), recomputes the jobs' content hashes, and gives each ``from:`` its `Need`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from ..assets.body import body_outputs, with_refs
from ..assets.output_ref import HASH_CHARS
from ..campaign import Need, PlannedJob, content_hash
from ..models import JsonPath
from .diagnostics import Diagnostic, suggest
from .expand import ExpandedJob
from .ids import JOB_ID
from .validation import locate

_FIELDS = ("referenceImages", "referenceVideos")
_CYCLE_HINT = "an output can only feed a job that comes after it: remove one of these `from:`"


def _from_items(data: dict[str, Any]) -> Iterator[tuple[str, int, Any]]:
    """(field, index, value of ``from``) of each ``from:`` item of a job as the spec wrote it."""
    for field in _FIELDS:
        items = data.get(field)
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, dict) and "from" in item:
                    yield field, index, item["from"]


class FromPlaces:
    """The expanded jobs that have ``from:`` items (only those: most jobs have none), to locate errors in."""

    def __init__(self, file: str):
        self.file = file
        self.jobs: dict[str, ExpandedJob] = {}

    def noting(self, jobs: Iterable[ExpandedJob]) -> Iterator[ExpandedJob]:
        """``jobs`` as they come, each with a ``from:`` item kept."""
        for job in jobs:
            if any(True for _ in _from_items(job.data)):
                self.jobs.setdefault(job.id, job)
            yield job

    def where(self, job: ExpandedJob, path: JsonPath) -> tuple[str, int, int]:
        """(file, line, column) of ``path`` in ``job``: a rows file's cell when a row filled it."""
        cell = job.row.place(path) if job.row is not None else None
        if cell is not None:
            return cell[0], *cell[1]
        return self.file, *locate(job, path)


def link_outputs(planned: list[PlannedJob], ids: Iterable[str], places: FromPlaces
                 ) -> tuple[list[PlannedJob], dict[str, tuple[Need, ...]], list[Diagnostic]]:
    """The jobs with their ``output:`` references hashed, the needs the references imply, and the errors
    (unknown ids, a job that needs itself, cycles: then the jobs are returned as they were)."""
    known = set(ids)
    found: dict[tuple[str, int, int, str, str | None], list[str]] = {}

    def report(job: ExpandedJob, path: JsonPath, message: str, hint: str | None) -> None:
        found.setdefault((*places.where(job, path), message, hint), []).append(job.id)

    upstream: dict[str, list[str]] = {}
    for job in places.jobs.values():
        for field, index, target in _from_items(job.data):
            if not isinstance(target, str) or not JOB_ID.fullmatch(target):
                continue  # reported by `from_item`
            where = f"{field}[{index}].from"
            if target == job.id:
                report(job, (field, index, "from"), f"{where}: {target} is this job itself", _CYCLE_HINT)
            elif target not in known:
                report(job, (field, index, "from"), f"{where}: {target} is not the id of a job of this spec",
                       suggest(target, sorted(known)) or "name a job of this spec, after its placeholders")
            else:
                upstream.setdefault(job.id, []).append(target)
    for cycle in _cycles(upstream):
        shown = " → ".join([*cycle, cycle[0]])
        for job_id in cycle:
            job = places.jobs[job_id]
            field, index, _ = next(i for i in _from_items(job.data) if i[2] in cycle)
            report(job, (field, index, "from"), f"{field}[{index}].from: a cycle: {shown}", _CYCLE_HINT)
    diagnostics = [Diagnostic(where, line, col, f"{message} ({_jobs(ids_)})", "error", hint)
                   for (where, line, col, message, hint), ids_ in found.items()]
    if diagnostics:
        return planned, _needs(planned), diagnostics  # the graph check still sees them: every error in one pass
    return _hashed(planned), _needs(planned), []


def _jobs(ids: list[str]) -> str:
    shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    return f"job {shown}" if len(ids) == 1 else f"{len(ids)} jobs: {shown}"


def _cycles(upstream: dict[str, list[str]]) -> list[list[str]]:
    """Each cycle of the graph (job → the jobs it takes outputs from), once; a job below a cycle is in none."""
    done: set[str] = set()
    cycles: list[list[str]] = []
    for start in upstream:
        if start in done:
            continue
        path: list[str] = []  # depth-first, without recursion: a chain may be thousands of shots long
        on_path: dict[str, int] = {}
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(upstream.get(start, ())))]
        on_path[start] = 0
        path.append(start)
        while stack:
            node, nexts = stack[-1]
            step = next(nexts, None)
            if step is None:
                stack.pop()
                path.pop()
                del on_path[node]
                done.add(node)
            elif step in on_path:
                cycles.append(path[on_path[step]:])
            elif step not in done:
                on_path[step] = len(path)
                path.append(step)
                stack.append((step, iter(upstream.get(step, ()))))
    return cycles


def _hashed(planned: list[PlannedJob]) -> list[PlannedJob]:
    """The jobs with each ``output:`` reference given its upstream's content hash, upstream jobs first (their own
    hashes first made final), and their content hashes computed again."""
    by_id = {job.id: job for job in planned}
    final: dict[str, PlannedJob] = {}
    for job in planned:
        if job.id in final or not any(body_outputs(job.body)):
            continue
        stack = [job.id]  # without recursion: a chain may be thousands of shots long (no cycles: checked)
        while stack:
            current = by_id[stack[-1]]
            waiting = [r.job for r in body_outputs(current.body)
                       if r.job in by_id and r.job not in final and any(body_outputs(by_id[r.job].body))]
            if waiting:
                stack.extend(waiting)
                continue
            stack.pop()
            if current.id in final:
                continue
            refs = {r.text(): replace(r, upstream=final.get(r.job, by_id[r.job]).content_hash[:HASH_CHARS]).text()
                    for r in body_outputs(current.body) if r.job in by_id}
            body = with_refs(current.body, refs)
            final[current.id] = replace(current, body=body, content_hash=content_hash(body))
    return [final.get(job.id, job) for job in planned]


def _needs(planned: list[PlannedJob]) -> dict[str, tuple[Need, ...]]:
    """What each job's ``from:`` items imply: it needs each job it takes an output from, once."""
    needs: dict[str, tuple[Need, ...]] = {}
    for job in planned:
        targets = dict.fromkeys(ref.job for ref in body_outputs(job.body))
        if targets:
            needs[job.id] = tuple(Need(target, via="from") for target in targets)
    return needs
