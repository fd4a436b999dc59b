"""The references in a request body (local files by content, other jobs' outputs), and the body with them
replaced (by signed URLs, by the files an output resolved to)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .kinds import parse_asset_ref
from .output_ref import OutputRef, parse_output_ref

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


def body_outputs(body: Mapping[str, Any]) -> Iterator[OutputRef]:
    """Each other job's output a body takes as an input (``output:`` references), in order."""
    for field in _FIELDS:
        for item in body.get(field) or ():
            parsed = parse_output_ref(item.get("url")) if isinstance(item, dict) else None
            if parsed is not None:
                yield parsed


def takes_outputs(body: Mapping[str, Any]) -> bool:
    """Whether a body takes another job's output as an input."""
    return any(True for _ in body_outputs(body))


def with_refs(body: Mapping[str, Any], refs: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``body`` whose reference URLs found in ``refs`` are replaced by ``refs[url]`` (an ``output:``
    reference by the ``asset:`` reference of the file it resolved to, or by its upstream-hashed form)."""
    out = dict(body)
    for field in _FIELDS:
        items = body.get(field)
        if not items:
            continue
        out[field] = [dict(item, url=refs[item["url"]])
                      if isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"] in refs
                      else item for item in items]
    return out
