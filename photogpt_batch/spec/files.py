"""A job's ``file:`` references: each checked and hashed (`assets.LocalFiles`) and replaced, in the data the
model validates and builds its request from, by the file's content reference (``asset:sha256:<hex>.<ext>``).

A job's identity is then its files' content, never their paths: editing a photo changes the job, moving or
renaming its folder does not.
"""

from __future__ import annotations

from typing import Any

from ..assets import ASSET_SCHEME
from ..assets.local import FileProblem, LocalFiles
from ..models import JsonPath

_KINDS = {"referenceImages": "image", "referenceVideos": "video"}


def with_files(data: dict[str, Any], files: LocalFiles | None) -> tuple[dict[str, Any], list[tuple[JsonPath, str,
                                                                                                     str | None]]]:
    """``data`` with each ``file:`` reference replaced by its content reference, and the problems found as
    (path, message, hint). ``data`` is returned as it is when it has no ``file:`` and no ``asset:`` URL."""
    problems: list[tuple[JsonPath, str, str | None]] = []
    out = data
    for field, kind in _KINDS.items():
        items = data.get(field)
        if not isinstance(items, list):
            continue
        new_items = list(items)
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            url = item.get("url")
            if isinstance(url, str) and url.startswith(ASSET_SCHEME):
                problems.append(((field, index, "url"), f"{field}[{index}].url: {url} is not an http(s) URL",
                                 "name a local file with `file:`"))
            if "file" not in item:
                continue
            path: JsonPath = (field, index, "file")
            if "url" in item:
                problems.append((path, f"{field}[{index}]: give either url or file, not both", None))
                continue
            if files is None:
                problems.append((path, f"{field}[{index}].file: local files need the spec's folder", None))
                continue
            try:
                asset = files.resolve(item["file"], kind)
            except FileProblem as exc:
                problems.append((path, f"{field}[{index}].file: {exc}", None))
                continue
            new_items[index] = {"url": asset.ref, **{k: v for k, v in item.items() if k != "file"}}
        if new_items != items:
            out = dict(out) if out is data else out
            out[field] = new_items
    return out, problems
