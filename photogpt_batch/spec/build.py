"""The full load of a spec (`load_in_full`): the YAML read (`document`), expanded into jobs (`expand`), each job
validated and its request built (`validation`), the outputs linked, the sequences and needs checked.

The file is first tried as read by the C parser (`load_plain`: no positions, several times faster); only a
file with something to report, or that the quick parse gives up on, is read again with positions
(`load_document`). `load.load_campaign` comes here only when the spec's memo cannot be used: this module's
imports (jsonschema, ruamel.yaml, the expansion) are a tenth of a second that a rerun with a memo never pays.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..assets.body import body_assets
from ..assets.hashcache import HashCache
from ..assets.local import LocalFiles
from ..campaign import Campaign, Need
from ..io.reads import Reads, noting
from ..plugins import Registry
from .diagnostics import SpecError, sort_diagnostics
from .document import Pos, load_document, load_plain, spec_relative
from .expand import ExpandedJob, iter_expand
from .needs import check_needs
from .outputs import FromPlaces, link_outputs
from .sequences import read_sequences
from .validation import validate_expansion


def load_in_full(path: Path, text: str, registry: Registry, hash_cache: Path) -> tuple[Campaign, Reads]:
    """The campaign of the spec at ``path`` whose text is ``text``, and the files its load read (for its memo);
    ``hash_cache``: the folder of the cache of the ``file:`` references' hashes. Raises `SpecError`."""
    files = LocalFiles(path.parent, HashCache(hash_cache))
    with noting() as reads:
        try:
            campaign = _plain_campaign(path, text, registry, files)
            if campaign is None:  # something to report, or unusual YAML: read it again with positions
                campaign = _campaign(path, load_document(path, text), registry, files)
        finally:
            files.cache.save()
    return campaign, reads


def _plain_campaign(path: Path, text: str, registry: Registry, files: LocalFiles) -> Campaign | None:
    """The campaign from `load_plain`'s tree when it is valid with nothing to report, else None.

    A plain tree has no positions, so any diagnostic, even a warning, means reading the file again with
    `load_document` to report it at its place; so does any exception, which that path turns into a located
    error or raises as it always did.
    """
    doc = load_plain(text)
    if doc is None:
        return None
    try:
        campaign = _campaign(path, doc, registry, files)
    except Exception:  # SpecError among others
        return None
    return None if campaign.diagnostics else campaign


def _campaign(path: Path, doc: dict[Any, Any], registry: Registry, files: LocalFiles | None = None) -> Campaign:
    """Expand and validate a loaded document; raises `SpecError` with every diagnostic when there is an error.
    ``files`` resolves ``file:`` references (default: beside the spec, with no hash cache)."""
    files = files or LocalFiles(path.parent, HashCache(None))
    file = str(path)
    expansion = iter_expand(doc, file)
    ids: list[str] = []  # every job's id, valid or not: a sequence naming a job with an error is not a typo
    graph = _Graph()
    places = FromPlaces(file)  # the jobs with `from:` items, to locate what `link_outputs` finds
    planned, diagnostics = validate_expansion(places.noting(_noting_ids(expansion.jobs, ids, graph)), file,
                                              registry, files)
    planned, from_needs, from_diagnostics = link_outputs(planned, ids, places)
    needs = _merged(graph.needs, from_needs)
    sequences, sequence_diagnostics = read_sequences(doc, ids, file)
    need_diagnostics = check_needs(needs, graph.positions, ids, file)
    diagnostics = sort_diagnostics([*expansion.diagnostics, *diagnostics, *sequence_diagnostics, *from_diagnostics,
                                    *need_diagnostics])
    if any(d.severity == "error" for d in diagnostics):
        raise SpecError(diagnostics)
    assert expansion.campaign is not None  # no errors means the campaign slug was valid
    output = spec_relative(path, expansion.output or f"out/{expansion.campaign}")
    used = {ref for job in planned for ref in body_assets(job.body)}
    assets = {sha: asset for sha, asset in files.assets.items() if sha in used}
    return Campaign(expansion.campaign, output, path, planned, diagnostics, budget_credits=expansion.budget_credits,
                    assets=assets, sequences=sequences, needs=needs)


def _merged(written: dict[str, tuple[Need, ...]], implied: dict[str, tuple[Need, ...]]
            ) -> dict[str, tuple[Need, ...]]:
    """The campaign's graph: each job's written ``needs:``, then the needs its ``from:`` references imply."""
    if not implied:
        return written
    merged = dict(written)
    for job, needs in implied.items():
        merged[job] = merged.get(job, ()) + needs
    return merged


class _Graph:
    """The jobs' needs as expansion yields them (only jobs that need anything), and where each is written."""

    def __init__(self) -> None:
        self.needs: dict[str, tuple[Need, ...]] = {}
        self.positions: dict[str, Pos | None] = {}


def _noting_ids(jobs: Iterable[ExpandedJob], ids: list[str], graph: _Graph) -> Iterator[ExpandedJob]:
    """``jobs`` as they come, each one's id appended to ``ids`` and its needs to ``graph`` (the jobs are
    expanded lazily, once)."""
    for job in jobs:
        ids.append(job.id)
        if job.needs:
            graph.needs[job.id] = job.needs
            graph.positions[job.id] = job.needs_pos
        yield job
