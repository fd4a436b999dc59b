"""A job's output used as another job's input: the reference a body holds in place of a URL.

``output:<job>@<hash>#frame=<frame>`` names a frame of the first video of job ``<job>`` (``first``, ``last`` or a
time such as ``2.5s``); ``output:<job>@<hash>`` names that video itself. ``<hash>`` is the first
`HASH_CHARS` hex digits of the upstream job's content hash, so the downstream job's identity (its body's hash)
includes what it is given: when the upstream job changes, so does every job made from it. A reference without
``@<hash>`` is the spec's, before the upstream's hash is known (`spec.outputs.link_outputs` fills it in).

Like ``asset:sha256:``, it is replaced by a signed URL only in the body that is sent (`engine.inputs`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

#: The prefix of a body's reference to another job's output.
OUTPUT_SCHEME = "output:"
#: How much of the upstream's content hash the reference holds: enough that two versions never share it.
HASH_CHARS = 16
#: The frames a ``frame:`` names by word; any other is a time, ``<seconds>s``.
FRAME_WORDS = ("first", "last")

_REF = re.compile(r"^output:([A-Za-z0-9][A-Za-z0-9._-]*)(?:@([0-9a-f]{16}))?(?:#frame=([^#@]+))?$")  # HASH_CHARS
_TIME = re.compile(r"^(\d+(?:\.\d+)?)s$")


@dataclass(frozen=True, slots=True)
class OutputRef:
    """Job ``job``'s first video (``frame`` None) or a frame of it; ``upstream``: the hash prefix ('' until known)."""

    job: str
    upstream: str = ""
    frame: str | None = None

    def text(self) -> str:
        """The reference as a body holds it."""
        at = f"@{self.upstream}" if self.upstream else ""
        return f"{OUTPUT_SCHEME}{self.job}{at}" + (f"#frame={self.frame}" if self.frame is not None else "")

    @property
    def seconds(self) -> float | None:
        """The time of a ``<seconds>s`` frame; None for ``first``, ``last`` and a video."""
        if self.frame is None or self.frame in FRAME_WORDS:
            return None
        return float(self.frame[:-1])


def frame_name(value: object) -> str | None:
    """The canonical name of a spec's ``frame:`` value (``last``, ``first``, ``2.5s``: ``2.50s`` is ``2.5s``, so
    equal times give equal identities), or None when it is none of them."""
    if value in FRAME_WORDS:
        return str(value)
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        number = Decimal(match.group(1)).normalize()
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        return None
    return f"{number:f}s"


def parse_output_ref(value: object) -> OutputRef | None:
    """The `OutputRef` a body's URL holds, or None when ``value`` is not one."""
    if not isinstance(value, str) or not value.startswith(OUTPUT_SCHEME):
        return None
    match = _REF.match(value)
    if match is None:
        return None
    frame = match.group(3)
    if frame is not None and frame_name(frame) != frame:
        return None
    return OutputRef(match.group(1), match.group(2) or "", frame)
