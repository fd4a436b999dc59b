"""The files a computation reads, each noted with its stat fingerprint taken just before it is read: what the
spec's memo (`spec.memo`) checks to know that a load would read the same files again.

The readers (a ``rows:`` data file, a ``file:`` reference) call `note` before they open a file; it records only
inside `noting`, so a load that keeps no memo pays one context-variable lookup per file. A context variable
rather than a parameter: the rows file is read deep inside the expansion, whose layers have no other use for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from .fsclock import Fingerprint, fingerprint


class Reads:
    """The files read while `noting`: absolute path -> the fingerprint it had before its first read."""

    def __init__(self) -> None:
        self.files: dict[str, Fingerprint] = {}
        #: A file that could not be fingerprinted, or that was read twice with two fingerprints: what was read
        #: is not known for sure, so nothing may be kept of this computation.
        self.unsure = False


_current: ContextVar[Reads | None] = ContextVar("photogpt_batch_reads", default=None)


@contextmanager
def noting() -> Iterator[Reads]:
    """Note, in the `Reads` yielded, every file `note`d within the block (in this context only)."""
    reads = Reads()
    token = _current.set(reads)
    try:
        yield reads
    finally:
        _current.reset(token)


def note(path: Path, found: os.stat_result | None = None) -> None:
    """Note that ``path`` is about to be read; ``found`` is its ``stat`` when the caller already took one (else it
    is taken now). Does nothing outside `noting`."""
    reads = _current.get()
    if reads is None:
        return
    try:
        taken = fingerprint(found if found is not None else os.stat(path))
    except OSError:  # the read that follows fails too (an error, which keeps no memo), or races a change
        reads.unsure = True
        return
    key = os.path.abspath(path)
    if reads.files.setdefault(key, taken) != taken:  # changed between two reads of the same load
        reads.unsure = True
