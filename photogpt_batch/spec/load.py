"""`load_campaign`: the way in from a spec file to a `Campaign`.

With ``memo=True``, the campaign a successful load made is kept in the user's state folder and given back by the
next load of the same spec while nothing it was made from has changed (`memo`): nothing is parsed then, and the
full load's modules (`build`: the YAML parser, JSON Schema, the expansion) are not even imported.
"""

from __future__ import annotations

from pathlib import Path

from ..campaign import Campaign
from ..plugins import Registry, get_registry
from ..state_dir import state_dir
from .memo import open_memo
from .source import read_bytes, spec_text


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
    from .build import load_in_full  # here, not above: a load that its memo answers never imports it

    campaign, reads = load_in_full(path, text, registry, state_dir() if hash_cache is None else hash_cache)
    if kept is not None:
        kept.store(campaign, reads)
    return campaign
