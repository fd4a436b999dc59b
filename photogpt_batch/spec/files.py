"""A job's ``file:`` references: each checked and hashed (`assets.LocalFiles`) and replaced, in the data the
model validates and builds its request from, by the file's content reference (``asset:sha256:<hex>.<ext>``).

A job's identity is then its files' content, never their paths: editing a photo changes the job, moving or
renaming its folder does not. Another job's output (``from:``) is replaced the same way, by an ``output:``
reference (`spec.outputs`).
"""

from __future__ import annotations

from typing import Any

from ..assets import ASSET_SCHEME
from ..assets.local import FileProblem, LocalFiles
from ..assets.output_ref import OUTPUT_SCHEME, OutputRef, frame_name
from ..models import JsonPath
from .ids import JOB_ID
from .text import show

_KINDS = {"referenceImages": "image", "referenceVideos": "video"}
_FRAME_HINT = "write `frame: last`, `frame: first` or a time in seconds such as `frame: 2.5s`"
Problem = tuple[JsonPath, str, str | None]


def with_files(data: dict[str, Any], files: LocalFiles | None) -> tuple[dict[str, Any], list[tuple[JsonPath, str,
                                                                                                     str | None]]]:
    """``data`` with each ``file:`` reference replaced by its content reference, and the problems found as
    (path, message, hint); each ``from:`` by its ``output:`` reference. ``data`` is returned as it is when it has
    none of them."""
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
            if isinstance(url, str) and url.startswith((ASSET_SCHEME, OUTPUT_SCHEME)):
                problems.append(((field, index, "url"), f"{field}[{index}].url: {url} is not an http(s) URL",
                                 "name a local file with `file:`, another job's output with `from:`"))
            if "from" in item:  # another job's output: a reference without its upstream's hash yet
                replaced, found = from_item(item, field, index)
                problems.extend(found)
                if replaced is not None:
                    new_items[index] = replaced
                continue
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


def from_item(item: dict[str, Any], field: str, index: int) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The item with ``from`` (and ``frame``) replaced by its ``output:`` reference, or None and the problems."""
    where = f"{field}[{index}]"
    problems: list[Problem] = []
    for other in ("url", "file"):
        if other in item:
            problems.append(((field, index, other), f"{where}: give one of url, file or from, not both", None))
    job = item["from"]
    if isinstance(job, str) and "{" in job:
        return None, []  # a placeholder that could not be filled: reported where it is, once
    if not isinstance(job, str) or not JOB_ID.fullmatch(job):
        problems.append(((field, index, "from"), f"{where}.from: {show(job, quote_text=True)} is not a job id",
                         "write the id of a job of this spec, as its `id:` gives it (after placeholders)"))
    frame: str | None = None
    if field == "referenceVideos":
        if "frame" in item:
            problems.append(((field, index, "frame"), f"{where}.frame: a reference video is the whole video",
                             "take a frame in referenceImages: `{from: JOB, frame: last, role: first_frame}`"))
    else:
        frame = frame_name(item.get("frame", "last"))
        if frame is None:
            problems.append(((field, index, "frame"), f"{where}.frame: {show(item.get('frame'), quote_text=True)}"
                             " is not a frame", _FRAME_HINT))
    if problems:
        return None, problems
    ref = OutputRef(str(job), "", frame)
    return {"url": ref.text(), **{k: v for k, v in item.items() if k not in ("from", "frame")}}, []
