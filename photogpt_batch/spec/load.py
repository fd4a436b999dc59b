"""`load_campaign`: the way in from a spec file to a `Campaign`, the data flowing one way: the YAML read
(`document`), expanded into jobs (`expand`), each job validated and its request built (`validation`).

The file is first tried as read by the C parser (`load_plain`: no positions, several times faster); only a
file with something to report, or that the quick parse gives up on, is read again with positions
(`load_document`).

With ``memo=True``, the campaign a successful load made is kept in the user's state folder and given back by the
next load of the same spec while nothing it was made from has changed (`memo`): nothing is parsed then.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..assets.body import body_assets
from ..assets.hashcache import HashCache
from ..assets.local import LocalFiles
from ..campaign import Campaign, Need
from ..io.reads import noting
from ..plugins import Registry, get_registry
from ..state_dir import state_dir
from .diagnostics import SpecError, sort_diagnostics
from .document import Pos, load_document, load_plain, read_bytes, spec_relative, spec_text
from .expand import ExpandedJob, iter_expand
from .memo import open_memo
from .needs import check_needs
from .outputs import FromPlaces, link_outputs
from .sequences import read_sequences
from .validation import validate_expansion


def load_campaign(path: str | Path, registry: Registry | None = None, hash_cache: Path | None = None, *,
                  memo: bool = False) -> Campaign:
    """Load, expand and validate a campaign file.

    ``file:`` references are checked and hashed (nothing is uploaded); ``hash_cache`` is the folder of the
    cache of their hashes (`assets.hashcache`), by default the user's state folder. ``memo`` reuses the campaign
    kept by an earlier load of this spec when nothing it was made from has changed, and keeps this one otherwise
    (`spec.memo`: in the user's state folder, advisory: any trouble with it only means a full load).

    Returns the `Campaign` with every job's request body; raises `SpecError` with every located
    diagnostic of the file (all errors in one pass, warnings too) when anything is wrong.
    """
    path = Path(path)
    registry = registry or get_registry()
    data = read_bytes(path)
    kept = open_memo(path, data, registry) if memo else None
    if kept is not None:
        found = kept.lookup()
        if found is not None:
            return found
        kept.begin()
    text = spec_text(path, data)
    if hash_cache is None:
        hash_cache = state_dir()  # the user's state folder, shared with the campaign index
    files = LocalFiles(path.parent, HashCache(hash_cache))
    with noting() as reads:
        try:
            campaign = _plain_campaign(path, text, registry, files)
            if campaign is None:  # something to report, or unusual YAML: read it again with positions
                campaign = _campaign(path, load_document(path, text), registry, files)
        finally:
            files.cache.save()
    if kept is not None:
        kept.store(campaign, reads)
    return campaign


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
