"""The asset references in a request body, and the body with them replaced by signed URLs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .kinds import parse_asset_ref

_FIELDS = ("referenceImages", "referenceVideos")


def body_assets(body: Mapping[str, Any]) -> Iterator[str]:
    """The sha256 of each local file a body references (a file used twice is named twice)."""
    for field in _FIELDS:
        for item in body.get(field) or ():
            parsed = parse_asset_ref(item.get("url")) if isinstance(item, dict) else None
            if parsed is not None:
                yield parsed[0]


def with_urls(body: Mapping[str, Any], urls: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``body`` whose asset references are replaced by ``urls[sha256]`` (the body that is sent;
    the ledger keeps the one with references)."""
    out = dict(body)
    for field in _FIELDS:
        items = body.get(field)
        if not items:
            continue
        new = []
        for item in items:
            parsed = parse_asset_ref(item.get("url")) if isinstance(item, dict) else None
            new.append(dict(item, url=urls[parsed[0]]) if parsed is not None else item)
        out[field] = new
    return out
