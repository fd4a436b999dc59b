"""``<output>/manifest.jsonl``: one JSON object per downloaded video.

Lines are appended as videos land, so a reader can follow a run; at the end of every run the file is
rewritten from the ledger (the source of truth) and atomically replaced, so a crash between a download and
its manifest line never leaves the manifest short for long. A run that changed nothing it is made from leaves it
as it is, without making it (`rewrite_view`, `stamp`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .io import stamps
from .io.durable import describe, open_owned
from .io.unchanged import replace_unless_same
from .layout import MANIFEST, manifest_path

if TYPE_CHECKING:
    from .ledger import Ledger

log = logging.getLogger(__name__)
#: The manifest's JSON: compact, UTF-8 as is. Made once: ``json.dumps`` with options makes an encoder per call,
#: and a run's end writes a line per video of the campaign.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: What a manifest line holds, in its fingerprint: a change of it makes the manifest again.
FORMAT = 1


def entry_line(entry: dict[str, Any]) -> str:
    """One manifest line (compact JSON, newline-terminated)."""
    return _ENCODER.encode(entry) + "\n"


class Appender:
    """Appends entries to a manifest as videos land; the file is opened once, on the first entry.

    Appending is a courtesy to whoever follows the run: the file that counts is the one `rewrite` makes at
    the end. So an append that fails (a read-only manifest, a full disk, a link planted in its place) is
    logged once and appending stops, and the run goes on.
    """

    def __init__(self, output: Path):
        self.path = manifest_path(output)
        self._file: IO[str] | None = None
        self._broken = False

    def append(self, entry: dict[str, Any]) -> None:
        """Append one video's entry (written through at once, so a reader following the file sees it)."""
        if self._broken:
            return
        try:
            if self._file is None:
                fd = open_owned(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
                self._file = open(fd, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
            self._file.write(entry_line(entry))
            self._file.flush()
        except OSError as exc:
            self._broken = True
            log.warning("cannot append to the manifest (%s); it is written once the run ends", describe(exc))

    def close(self) -> None:
        """Close the file, if it was opened."""
        if self._file is not None:
            file, self._file = self._file, None
            # A failing last flush was already reported, and rewrite() replaces the file.
            with contextlib.suppress(OSError):
                file.close()


def rewrite(output: Path, entries: Iterable[dict[str, Any]]) -> None:
    """Make the manifest exactly ``entries`` (write, fsync, rename), unless it already is.

    A rerun of a finished campaign then writes nothing, so it also succeeds in a folder that is read-only by
    now. A link in place of the manifest is replaced, not followed; raises `OSError` when it cannot be written.
    The entries (a generator, for a large campaign) are encoded and compared line by line: never held whole.
    """
    replace_unless_same(manifest_path(output), (entry_line(entry).encode("utf-8") for entry in entries),
                        durable=True)


def stamp(ledger: Ledger, output: Path, sequences: Mapping[str, tuple[str, ...]]) -> str:
    """The fingerprint of what the manifest is made from (`io.stamps`): the ledger (which one, and its revision)
    and the spec's sequences with their files. The last frames it names are files a run fetches: a run that
    fetched anything makes it again whatever this says."""
    return stamps.fingerprint("manifest", FORMAT, ledger.identity(), ledger.revision(),
                              {name: list(jobs) for name, jobs in sequences.items()},
                              stamps.sequence_files(output, sequences))


def rewrite_view(output: Path, inputs: str, entries: Callable[[], Iterable[dict[str, Any]]], *, reuse: bool) -> bool:
    """`rewrite` the manifest with ``entries()`` and record it with ``inputs`` (its `stamp`); with ``reuse``, one
    already written from ``inputs`` and untouched since is left as it is, and ``entries`` is not called. Returns
    whether it was made; raises `OSError` when it cannot be written."""
    return stamps.write_view(output, MANIFEST, inputs, lambda: rewrite(output, entries()), reuse=reuse)
