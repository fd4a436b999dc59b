"""The spec's top-level ``sequences:``: names mapped to ordered lists of job ids, whose videos are joined into
``<output>/sequences/<name>.mp4`` once every one of them is done.

Checked after the jobs are expanded, against every id the spec gives a job: a name that is not a slug, a list
that is not a list of ids, and an id that names no job are located errors (with the closest id for a typo).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .diagnostics import Diagnostic, suggest
from .document import YamlMap, key_position, value_position
from .ids import CAMPAIGN_SLUG
from .reporter import Reporter
from .text import show

SEQUENCES_KEY = "sequences"
#: A sequence's name names its file ``sequences/<name>.mp4``: the campaign's slug rules (lowercase, so two
#: names never collide on a file system that ignores case).
SEQUENCE_NAME = CAMPAIGN_SLUG
_LIST_HINT = "write `sequences: {story: [shot-1, shot-2]}`: a name and the ids of its jobs, in order"


def read_sequences(doc: YamlMap, job_ids: Iterable[str], file: str) -> tuple[dict[str, tuple[str, ...]],
                                                                              list[Diagnostic]]:
    """The spec's sequences (name → job ids in order) and the diagnostics of ``sequences:``.

    ``job_ids`` are the ids of the spec's jobs (after expansion); a job may appear in several sequences."""
    rep = Reporter(file)
    if SEQUENCES_KEY not in doc:
        return {}, []
    node = doc.get(SEQUENCES_KEY)
    if not isinstance(node, dict) or not node:
        rep.error(value_position(doc, SEQUENCES_KEY), "sequences: must be a mapping of names to lists of job ids",
                  _LIST_HINT)
        return {}, rep.diagnostics
    known = set(job_ids)
    sequences: dict[str, tuple[str, ...]] = {}
    for name, ids in node.items():
        if not isinstance(name, str) or not SEQUENCE_NAME.fullmatch(name):
            rep.error(key_position(node, name), f"sequences: {show(name, quote_text=True)} is not a slug: lowercase "
                      "letters, digits, '.', '_' and '-', starting with a letter or digit (it names the file "
                      "sequences/<name>.mp4)")
            continue
        if not isinstance(ids, list) or not ids:
            rep.error(value_position(node, name), f"sequences.{name}: must be a non-empty list of job ids",
                      _LIST_HINT)
            continue
        if _ids_known(name, ids, known, rep):
            sequences[name] = tuple(str(job_id) for job_id in ids)
    return sequences, rep.diagnostics


def _ids_known(name: str, ids: list[Any], known: set[str], rep: Reporter) -> bool:
    """Whether every item of sequence ``name`` is the id of a job of the spec; reports each that is not."""
    ok = True
    for index, job_id in enumerate(ids):
        if isinstance(job_id, str) and job_id in known:
            continue
        ok = False
        where = f"sequences.{name}[{index}]"
        if not isinstance(job_id, str):
            rep.error(value_position(ids, index), f"{where}: {show(job_id, quote_text=True)} is not a job id",
                      "write the id of a job of this spec")
            continue
        rep.error(value_position(ids, index), f"{where}: {show(job_id, quote_text=True)} is not the id of a job "
                  "of this spec", suggest(job_id, sorted(known)) or "a sequence lists ids of the spec's jobs")
    return ok
