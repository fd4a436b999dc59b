"""The memo of a spec's load: the `Campaign` a successful load made, kept in the user's state folder and given
back while nothing it was made from has changed, so that a rerun of a large campaign does not parse, expand,
validate and build every job again (20,000 jobs: 0.4 s to load, 0.05 s to read back).

A spec's memo is ``<state folder>/expanded/<sha256 of the spec's resolved path>.memo``, replaced by each load
that does not use it; at most `KEEP` are kept, and `MAX_BYTES` in all, the least recently used removed
beyond.

It is used only when all of this is as it was (`Memo.key`, and the files in its header):

- its format and the Python version (marshal's format is per version);
- the tool's code (`code_fingerprint`): every ``.py`` file of the package and of each registered plugin, by size
  and mtime, each plugin's distribution and version, and ``PHOTOGPT_BATCH_PLUGINS``;
- the spec: its bytes' sha256; its path as given and made absolute, and the home folder (the output folder and
  each ``file:``'s path are made from them);
- every other file the load read (``rows:`` data files, ``file:`` references; see `io.reads`): each by the stat
  fingerprint it had before it was read, ctime included, so an edit whose mtime was put back is seen. A load
  where one of them changed too recently for its ctime to show a later change within the same clock tick
  (`Memo.begin`) is not kept: the next one is.

Only a load with no diagnostics at all is kept: warnings are printed on every load, and a load with errors
raises as it would without a memo. The memo is advisory, as `io.checked` is: missing, unreadable, damaged, of
another format, or in a folder that cannot be written, it is a miss, never an error. It is plain data through
`marshal` (`memo_data`), never pickle: reading a file of the state folder must not be able to run code. Its header
holds the sha256 of that data, so a damaged memo is never read as another campaign.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import marshal
import os
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..campaign import Campaign
from ..io.fsclock import fingerprint, read_clock, settled
from ..io.reads import Reads
from ..plugins import Registry
from ..state_dir import state_dir
from .memo_data import campaign_from_plain, campaign_plain

log = logging.getLogger(__name__)

#: The memo's format: a memo of another is a miss (and is replaced).
FORMAT = 1
#: How many memos are kept: one per spec, so a machine with many specs does not grow the folder without bound.
KEEP = 32
#: And at most this many bytes in all (a 100,000-job spec's memo is 20 MB).
MAX_BYTES = 256 << 20
FOLDER = "expanded"
SUFFIX = ".memo"
#: The package whose code is fingerprinted (a module attribute, so a test can point it at a copy).
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
#: Libraries whose behaviour shapes a load (YAML 1.2 parsing, JSON Schema validation): an upgrade is a miss.
LIBRARIES = ("ruamel.yaml", "jsonschema")
#: A leftover temporary file (a writer that died between writing and renaming) is removed after this long.
STALE_TMP_SECONDS = 3600
_MAGIC = b"photogpt-batch memo\n"
#: The file's start: magic, format, Python major and minor, then the header's length (the header, then the data).
_PREFIX = struct.Struct(f"<{len(_MAGIC)}sHBBI")


def open_memo(path: Path, data: bytes, registry: Registry) -> Memo | None:
    """The memo of the spec at ``path`` whose bytes are ``data``, or None when it cannot be placed (no state
    folder, a path that cannot be resolved): the load then goes on without one."""
    try:
        return Memo(path, data, registry)
    except Exception as exc:  # advisory: nothing about the memo may fail a load
        log.debug("no memo for %s: %s", path, exc)
        return None


class Memo:
    """One spec's memo: `lookup` before loading, and on a miss `begin`, then `store` what the load made."""

    def __init__(self, path: Path, data: bytes, registry: Registry, folder: Path | None = None) -> None:
        self.folder = folder if folder is not None else state_dir() / FOLDER
        resolved = str(path.resolve())
        self.file = self.folder / (hashlib.sha256(os.fsencode(resolved)).hexdigest() + SUFFIX)
        #: What must be as it was, files read aside: a tuple of plain values, compared whole.
        self.key = (hashlib.sha256(data).hexdigest(), str(path), str(path.absolute()), os.path.expanduser("~"),
                    code_fingerprint(registry))
        #: The file system's clock when the load began (device, ctime ns), or None: then nothing is stored.
        self._clock: tuple[int, int] | None = None

    def lookup(self) -> Campaign | None:
        """The campaign kept for this spec, when every input is as it was; None otherwise (a miss)."""
        try:
            campaign = self._read()
        except Exception as exc:  # a damaged or foreign file, gone midway, ...: a miss, never an error
            log.debug("memo %s unusable: %r", self.file, exc)
            return None
        if campaign is not None:
            with contextlib.suppress(OSError):
                os.utime(self.file)  # recently used: the last to be pruned
        return campaign

    def _read(self) -> Campaign | None:
        try:
            f = open(self.file, "rb")  # noqa: SIM115  (closed below, before the data is decoded)
        except FileNotFoundError:
            return None
        with f:
            magic, form, major, minor, size = _PREFIX.unpack(f.read(_PREFIX.size))
            if (magic, form, (major, minor)) != (_MAGIC, FORMAT, sys.version_info[:2]):
                return _miss("format", self.file)
            header: dict[str, Any] = marshal.loads(f.read(size))
            if header["key"] != self.key:
                return _miss("spec or code", self.file)
            for name, recorded in header["inputs"]:
                try:
                    now = fingerprint(os.stat(name))
                except OSError:
                    return _miss(f"{name} is gone", self.file)
                if now != recorded:
                    return _miss(f"{name} changed", self.file)
            data = f.read()
        if hashlib.sha256(data).hexdigest() != header["data"]:
            return _miss("damaged", self.file)
        plain = marshal.loads(data)
        del data  # before the jobs are built: the bytes and the jobs need not be in memory together
        return campaign_from_plain(plain)

    def begin(self) -> None:
        """Read the file system's clock, before the load reads anything: a file whose ctime is older cannot
        change again without its ctime changing (a ctime is never set back). Without a clock, nothing is kept."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._clock = read_clock(self.folder)  # the ctime a change now gets, on the state folder's file system
        except OSError as exc:
            log.debug("no memo kept: %s", exc)

    def store(self, campaign: Campaign, reads: Reads) -> None:
        """Keep ``campaign``, which the load made reading ``reads``, unless it had diagnostics or one of those
        files changed too recently to tell a later change apart. Never raises."""
        if campaign.diagnostics or reads.unsure or self._clock is None:
            return
        inputs = sorted(reads.files.items())
        unsettled = [name for name, found in inputs if not settled(found[0], found[4], self._clock)]
        if unsettled:
            log.debug("no memo kept: %s changed too recently", ", ".join(unsettled))
            return
        try:
            data = marshal.dumps(campaign_plain(campaign))
            header = marshal.dumps({"key": self.key, "inputs": inputs, "data": hashlib.sha256(data).hexdigest()})
            prefix = _PREFIX.pack(_MAGIC, FORMAT, *sys.version_info[:2], len(header))
            _write(self.file, (prefix, header, data))
            prune(self.folder)
        except Exception as exc:  # a full disk, a read-only folder, a value marshal refuses: no memo
            log.debug("memo %s not written: %r", self.file, exc)


def _miss(why: str, file: Path) -> Campaign | None:
    """None, the miss, after saying why at debug level."""
    log.debug("memo %s not used: %s", file, why)
    return None


def _write(file: Path, parts: tuple[bytes, ...]) -> None:
    """``file`` replaced atomically (a temporary file in its folder, renamed over it): a concurrent reader sees
    the old memo or the new one. Not fsynced: a memo cut short by a crash fails its sha256 and is a miss."""
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=file.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                out.write(part)
        os.replace(tmp, file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def prune(folder: Path, keep: int = KEEP, max_bytes: int = MAX_BYTES) -> None:
    """Remove the memos in ``folder`` beyond the ``keep`` most recently used, or beyond ``max_bytes`` in all
    (the most recently used always stays), and temporary files left behind."""
    memos: list[tuple[int, int, str]] = []
    stale = time.time() - STALE_TMP_SECONDS
    with os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):  # removed by a concurrent prune
                if entry.name.endswith(SUFFIX):
                    found = entry.stat()
                    memos.append((found.st_mtime_ns, found.st_size, entry.path))
                elif entry.name.endswith(".tmp") and entry.stat().st_mtime < stale:
                    os.unlink(entry.path)
    memos.sort(reverse=True)
    total = 0
    for i, (_, size, path) in enumerate(memos):
        total += size
        if i >= keep or (i > 0 and total > max_bytes):
            with contextlib.suppress(OSError):
                os.unlink(path)


def code_fingerprint(registry: Registry) -> str:
    """The sha256 of what says which code a load runs: every ``.py`` file of the package (`PACKAGE_ROOT`) and of
    each of ``registry``'s plugins by relative path, size and mtime, each plugin's distribution and version, the
    `LIBRARIES`' files, and ``PHOTOGPT_BATCH_PLUGINS``. Stat calls only (a few milliseconds)."""
    modules = {source.module for source in registry.sources.values()}
    # A hand-made registry has no sources: its models' rules still name the modules they come from.
    modules.update(str(getattr(rule, "__module__", "")) for model in registry.models.values() for rule in model.rules)
    places = sorted({_code_place(module) for module in modules})  # the built-ins share one package: walked once
    parts: list[Any] = [
        str(PACKAGE_ROOT), _tree(str(PACKAGE_ROOT)), os.environ.get("PHOTOGPT_BATCH_PLUGINS"),
        [(name, source.module, source.release) for name, source in sorted(registry.sources.items())],
        [(place, _tree(place[1]) if place[0] == "tree" else _file(place[1])) for place in places],
        [(library, _file(_origin(library))) for library in LIBRARIES],
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _code_place(name: str) -> tuple[str, str]:
    """Where module ``name``'s code is: ("tree", folder) for a package, or for a module in one (its siblings,
    such as a family's shared helpers, are its code too); ("file", path) for a top-level module; ("gone", name)
    for a module not imported."""
    module = sys.modules.get(name)
    if module is None:
        return "gone", name
    package = module if hasattr(module, "__path__") else sys.modules.get(name.rpartition(".")[0])
    roots = list(getattr(package, "__path__", ()))
    if roots:
        return "tree", os.pathsep.join(roots)
    return "file", str(getattr(module, "__file__", None))


def _origin(library: str) -> str | None:
    """The file of top-level package ``library``, found without importing it (a load its memo answers does not
    import the YAML parser or JSON Schema, and the fingerprint must be the same whether they were imported)."""
    module = sys.modules.get(library)
    if module is not None:
        return getattr(module, "__file__", None)
    try:
        spec = importlib.util.find_spec(library)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None else None


def _file(path: str | None) -> tuple[int, int] | None:
    """(size, mtime) of the file at ``path``, or None."""
    try:
        found = os.stat(path) if path else None
    except OSError:
        return None
    return (found.st_size, found.st_mtime_ns) if found else None


def _tree(roots: str) -> list[tuple[str, int, int]]:
    """(path relative to its root, size, mtime) of every ``.py`` file under each root in ``roots`` (one folder, or
    a namespace package's folders joined with `os.pathsep`), sorted."""
    found: list[tuple[str, int, int]] = []
    for root in roots.split(os.pathsep):
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    with contextlib.suppress(OSError):
                        st = os.stat(path)
                        found.append((os.path.relpath(path, root), st.st_size, st.st_mtime_ns))
    found.sort()
    return found
