"""A job's ``needs:``: the jobs it waits for, read from its entry, and the graph check over the whole campaign.

``needs:`` takes one id, a list of ids, a mapping ``{job: ID, picked: true}`` (the job is sent only if that job
is picked in the review), or a list mixing them. Ids take placeholders, filled per expanded job as ``id:`` is
(`EntryNeeds.fill`), so ``needs: draft-{n}`` pairs matrix and row jobs one to one. The key is never part of the
request: the model never sees it.

`check_needs` is the one graph check, over every job's needs (written with ``needs:`` or implied by ``from:``):
an id no job has (with the closest id as a hint), a job needing itself, and cycles, each named whole. It is
a function over plain data, so implied needs go through the same check.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ..campaign import Need
from .diagnostics import Diagnostic, suggest
from .document import Pos, YamlMap, value_position, walk_position
from .reporter import Reporter
from .templates import Template, TemplateError, parse
from .text import show

NEEDS_KEY = "needs"
_HINT = "write `needs: draft-1`, `needs: [a, b]` or `needs: {job: draft-{n}, picked: true}`"
_NEED_KEYS = ("job", "picked")


class EntryNeeds:
    """The ``needs:`` of one job entry, read once, filled per expanded job. Problems are reported once."""

    def __init__(self, entry: YamlMap, rep: Reporter):
        self.rep = rep
        self.pos: Pos | None = value_position(entry, NEEDS_KEY)
        #: (template, picked, where it is written) per need as written.
        self.items: list[tuple[Template, bool, Pos | None]] = []
        self._reported: set[str] = set()
        self.ok = self._read(entry.get(NEEDS_KEY), entry)

    def _read(self, node: Any, entry: YamlMap) -> bool:
        """Read the value; False (reported) when it is not one of the accepted shapes."""
        items = node if isinstance(node, list) else [node]
        if isinstance(node, list) and not node:
            self.rep.error(self.pos, "needs: must name at least one job", _HINT)
            return False
        ok = True
        for index, item in enumerate(items):
            where = f"needs[{index}]" if isinstance(node, list) else "needs"
            pos = (walk_position(entry, (NEEDS_KEY, index)) if isinstance(node, list) else None) or self.pos
            picked = False
            if isinstance(item, dict):
                self.rep.unknown_keys(item, _NEED_KEYS, where)
                picked_value = item.get("picked", False)
                if not isinstance(picked_value, bool):
                    self.rep.error(value_position(item, "picked") or pos,
                                   f"{where}.picked: {show(picked_value, quote_text=True)} must be true or false")
                    ok = False
                picked = picked_value is True
                if "job" not in item:
                    self.rep.error(pos, f"{where}: missing required key 'job'", _HINT)
                    ok = False
                    continue
                pos = value_position(item, "job") or pos
                item = item.get("job")
            if not isinstance(item, str) or not item:
                self.rep.error(pos, f"{where}: {show(item, quote_text=True)} is not a job id", _HINT)
                ok = False
                continue
            try:
                self.items.append((parse(item), picked, pos))
            except TemplateError as exc:
                self.rep.error(pos, f"{where}: {exc}")
                ok = False
        return ok

    def fill(self, values: Mapping[str, Any]) -> tuple[Need, ...] | None:
        """The needs of the job whose placeholder values are ``values``; None (reported once) when one cannot
        be filled."""
        needs: list[Need] = []
        for template, picked, pos in self.items:
            try:
                job = template.fill(values, normalise=True)
            except TemplateError as exc:
                if str(exc) not in self._reported:
                    self._reported.add(str(exc))
                    self.rep.error(pos, f"needs: {exc}")
                return None
            need = Need(str(job), picked)
            if need not in needs:
                needs.append(need)
        return tuple(needs)


def check_needs(needs: Mapping[str, tuple[Need, ...]], positions: Mapping[str, Pos | None],
                known: Collection[str], file: str) -> list[Diagnostic]:
    """The errors of a campaign's graph: ``needs`` maps a job id to what it needs, ``positions`` a job id to
    where its needs are written (reported there), ``known`` is every job id of the spec. Reports a need that
    names no job (``final-5 needs draft-5, and no job has that id``, with the closest id), a job needing
    itself, and every cycle, named whole (``a → b → c → a``), once."""
    rep = Reporter(file)
    known_set = set(known)
    for job, job_needs in needs.items():
        for need in job_needs:
            if need.via == "from":
                continue  # a `from:` reference is checked where it is written (`spec.outputs`)
            if need.job == job:
                rep.error(positions.get(job), f"{job} needs itself", "a job cannot wait for its own videos")
            elif need.job not in known_set:
                rep.error(positions.get(job), f"{job} needs {need.job}, and no job has that id",
                          suggest(need.job, sorted(known_set)) or "needs names the ids of the spec's jobs")
    for cycle in _cycles(needs, known_set):
        steps = zip(cycle, (*cycle[1:], cycle[0]), strict=True)
        if all(n.via == "from" for a, b in steps for n in needs[a] if n.job == b):
            continue  # a cycle of `from:` references only: reported where they are written (`spec.outputs`)
        rep.error(positions.get(cycle[0]), f"needs make a cycle: {' → '.join((*cycle, cycle[0]))}",
                  "no job of a cycle could ever be sent: remove one of these needs")
    return rep.diagnostics


def _cycles(needs: Mapping[str, tuple[Need, ...]], known: set[str]) -> list[tuple[str, ...]]:
    """The cycles of the graph (self needs left out: reported on their own), each from the job met first in
    ``needs`` order; depth-first without recursion, so a 100,000-job chain does not overflow the stack."""
    order = {job: i for i, job in enumerate(needs)}
    done: set[str] = set()
    cycles: list[tuple[str, ...]] = []
    for start in needs:
        if start in done:
            continue
        path: list[str] = []
        on_path: dict[str, int] = {}
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                on_path[node] = len(path)
                path.append(node)
            edges = [n.job for n in needs.get(node, ()) if n.job != node and n.job in known]
            if index < len(edges):
                stack.append((node, index + 1))
                nxt = edges[index]
                if nxt in on_path:
                    cycle = tuple(path[on_path[nxt]:])
                    first = min(range(len(cycle)), key=lambda i: order.get(cycle[i], len(order)))
                    cycles.append(cycle[first:] + cycle[:first])
                elif nxt not in done:
                    stack.append((nxt, 0))
                continue
            path.pop()
            del on_path[node]
            done.add(node)
    return cycles
