"""`LocalFiles`: a spec's ``file:`` references checked and hashed, once per path per load, nothing uploaded."""

from __future__ import annotations

import stat as stat_module
from pathlib import Path, PurePosixPath, PureWindowsPath

from ..io.reads import note
from .hashcache import HashCache
from .kinds import MAX_BYTES, LocalAsset, sniff

_ACCEPTED = {"image": "a PNG, JPEG or WebP image", "video": "an MP4 or MOV video"}


class FileProblem(ValueError):
    """A ``file:`` reference that cannot be used; the message names the path and why."""


class LocalFiles:
    """Resolves ``file:`` paths relative to the spec's folder into `LocalAsset`s (each file read once)."""

    def __init__(self, spec_dir: Path, cache: HashCache):
        self.spec_dir = spec_dir
        self.cache = cache
        self._seen: dict[tuple[str, str], LocalAsset | FileProblem] = {}
        #: Every asset resolved, by sha256: what a run stages.
        self.assets: dict[str, LocalAsset] = {}

    def resolve(self, raw: object, kind: str) -> LocalAsset:
        """The asset at spec-relative path ``raw``, which must hold a file of ``kind`` ("image" or "video");
        `FileProblem` otherwise."""
        if not isinstance(raw, str) or not raw.strip():
            raise FileProblem(f"expected a file path relative to the spec, got {raw!r}")
        memo = self._seen.get((raw, kind))
        if memo is None:
            try:
                memo = self._resolve(raw, kind)
            except FileProblem as exc:
                memo = exc
            self._seen[(raw, kind)] = memo
        if isinstance(memo, FileProblem):
            raise memo
        self.assets[memo.sha256] = memo
        return memo

    def _resolve(self, raw: str, kind: str) -> LocalAsset:
        if PurePosixPath(raw).is_absolute() or PureWindowsPath(raw).is_absolute() or PureWindowsPath(raw).drive:
            raise FileProblem(f"{raw}: an absolute path; write it relative to the spec's folder")
        parts = PurePosixPath(raw.replace("\\", "/")).parts
        depth = 0
        for part in parts:  # lexically: a symlinked photo folder inside the spec's folder is fine
            depth += -1 if part == ".." else 0 if part == "." else 1
            if depth < 0:
                raise FileProblem(f"{raw}: climbs out of the spec's folder; keep reference files beside the spec")
        path = self.spec_dir / raw
        try:
            st = path.stat()
        except FileNotFoundError:
            raise FileProblem(f"{raw}: no such file") from None
        except OSError as exc:
            raise FileProblem(f"{raw}: cannot be read: {exc.strerror or exc}") from None
        if not stat_module.S_ISREG(st.st_mode):
            raise FileProblem(f"{raw}: not a file")
        note(path, st)  # this stat, taken before the file is read (or its hash taken from the cache by it)
        try:
            with path.open("rb") as fh:
                head = fh.read(16)
        except OSError as exc:
            raise FileProblem(f"{raw}: cannot be read: {exc.strerror or exc}") from None
        found = sniff(head)
        if found is None or found[0] != kind:
            what = f"{found[0]} ({found[1]})" if found else "neither an image nor a video the API takes"
            raise FileProblem(f"{raw}: not {_ACCEPTED[kind]} by its content: it is {what}")
        if st.st_size > MAX_BYTES[kind]:
            raise FileProblem(f"{raw}: {size_text(st.st_size)} is over the {size_text(MAX_BYTES[kind])} accepted for "
                              f"a reference {kind}")
        try:
            digest = self.cache.sha256(path, st)
        except OSError as exc:
            raise FileProblem(f"{raw}: cannot be read: {exc.strerror or exc}") from None
        return LocalAsset(path, digest, st.st_size, *found)


def size_text(size: int) -> str:
    """A byte count for people, in decimal units as file managers show them: ``740 bytes``, ``3.4 kB``,
    ``4.2 MB``, ``2,147.5 MB`` (uploads of a catalog's small photos are not ``0.0 MB``)."""
    if size < 1_000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1_000:.1f} kB"
    return f"{size / 1_000_000:,.1f} MB"

