"""What a person sees while a run goes: a tqdm bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from typing import TextIO

from tqdm import tqdm


class Progress:
    """Counts of jobs and videos by stage, shown as they change.

    On a terminal: one tqdm bar of videos downloaded (with rate and ETA) and the other counts in its
    postfix. Elsewhere (CI logs, pipes): one plain line per event, so logs stay readable.
    """

    def __init__(self, total_videos: int, stream: TextIO | None = None, interactive: bool | None = None,
                 quiet: bool = False):
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.quiet = quiet
        self.counts: Counter[str] = Counter()
        self.started = time.monotonic()
        self._bar: tqdm | None = None
        if self.interactive and not quiet:
            self._bar = tqdm(total=total_videos, unit="video", desc="downloaded", file=self.stream,
                             dynamic_ncols=True, leave=True)

    def event(self, kind: str, job_id: str, detail: str = "") -> None:
        """Record one event (``submitted``, ``generating``, ``downloaded``, ``failed``, ``in_doubt``, ...)."""
        self.counts[kind] += 1
        if self._bar is not None:
            if kind == "downloaded":
                self._bar.update(1)
            self._bar.set_postfix_str(self._postfix(), refresh=True)
            if kind in ("failed", "in_doubt", "video_failed"):
                self._bar.write(f"{kind}: {job_id}{': ' + detail if detail else ''}", file=self.stream)
        elif not self.quiet:
            elapsed = time.monotonic() - self.started
            self.stream.write(f"[{elapsed:7.1f}s] {kind:<11} {job_id}{'  ' + detail if detail else ''}\n")
            self.stream.flush()

    def note(self, message: str) -> None:
        """A line of text that does not disturb the bar."""
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        elif not self.quiet:
            self.stream.write(message + "\n")
            self.stream.flush()

    def log_handler(self) -> logging.Handler:
        """A logging handler whose lines go through `note`, so warnings do not break the bar."""
        progress = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                progress.note(f"{record.levelname.lower()}: {record.getMessage()}")

        return _Handler()

    def _postfix(self) -> str:
        c = self.counts
        generating = max(0, c["submitted"] + c["resumed"] - c["generated"] - c["failed"])
        parts = [f"submitted {c['submitted']}", f"generating {generating}"]
        for key in ("failed", "in_doubt", "video_failed"):
            if c[key]:
                parts.append(f"{key.replace('_', ' ')} {c[key]}")
        return ", ".join(parts)

    def close(self) -> None:
        """Finish the bar (leave it on screen)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
