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
        self.stream = stream if stream is not None else sys.stderr
        # No stream at all (the process started with stderr closed: sys.stderr is None) means nothing to show.
        self.quiet = quiet or self.stream is None
        #: Set once a write to the stream failed (a closed pipe, a closed file): progress stays silent from then
        #: on, because it is only a view of the run and must never be what ends it.
        self.broken = False
        self.counts: Counter[str] = Counter()
        self.started = time.monotonic()
        self._bar: tqdm | None = None
        self._guard = _Guarded(self)
        if interactive is None:
            interactive = not self.quiet and self._isatty()
        self.interactive = interactive
        self._total = total_videos
        # The bar appears at `start_at` (or the first event), so that a resumed run's first frame already
        # shows the videos on disk, not 0, and its rate counts only this run's downloads.
        self._drawn = not (self.interactive and not self.quiet)

    def _show_bar(self, initial: int = 0) -> tqdm | None:
        if not self._drawn:
            self._drawn = True
            # tqdm writes through the guard, so its own updates, refreshes and close cannot raise either.
            self._bar = tqdm(total=self._total, initial=initial, unit="video", desc="downloaded", file=self._guard,
                             dynamic_ncols=True, leave=True)
        return self._bar

    def start_at(self, downloaded: int, total: int) -> None:
        """Show where the run starts: ``downloaded`` of ``total`` videos already on disk (a resumed run)."""
        self.counts["on_disk"] = downloaded
        if self.quiet or self.broken:
            return
        if not self._drawn:
            self._total = total
            self._show_bar(downloaded)
        elif self._bar is not None:
            self._bar.reset(total=total)
            self._bar.update(downloaded)
        elif downloaded:
            self._write(f"[{time.monotonic() - self.started:7.1f}s] already on disk: {downloaded}/{total} videos\n")

    def event(self, kind: str, job_id: str, detail: str = "") -> None:
        """Record one event (``submitted``, ``generating``, ``downloaded``, ``failed``, ``in_doubt``, ...)."""
        self.counts[kind] += 1
        if self.quiet or self.broken:
            return
        bar = self._show_bar()
        if bar is not None:
            if kind == "downloaded":
                bar.update(1)
            bar.set_postfix_str(self._postfix(), refresh=True)
            if kind in ("failed", "in_doubt", "video_failed"):
                bar.write(f"{kind}: {job_id}{': ' + detail if detail else ''}", file=self._guard)
        else:
            elapsed = time.monotonic() - self.started
            self._write(f"[{elapsed:7.1f}s] {kind:<11} {job_id}{'  ' + detail if detail else ''}\n")

    def note(self, message: str) -> None:
        """A line of text that does not disturb the bar."""
        if self.quiet or self.broken:
            return
        if self._bar is not None:
            self._bar.write(message, file=self._guard)
        else:
            self._write(message + "\n")

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
        parts = [f"submitted {c['submitted']}", f"generating {generating}", f"generated {c['generated']}"]
        for key in ("failed", "in_doubt", "video_failed"):
            if c[key]:
                parts.append(f"{key.replace('_', ' ')} {c[key]}")
        return ", ".join(parts)

    def close(self) -> None:
        """Finish the bar (leave it on screen)."""
        if self._bar is not None:
            # Through the guard: a stream broken by now only leaves the bar's last line unwritten.
            self._bar.close()
            self._bar = None

    def _isatty(self) -> bool:
        try:
            return bool(self.stream.isatty())
        except (OSError, ValueError):  # a closed file cannot even say
            self.broken = True
            return False

    def _write(self, text: str, flush: bool = True) -> int:
        """Write ``text`` to the stream; the first failure silences progress for the rest of the run."""
        if self.broken:
            return 0
        try:
            written = self.stream.write(text)
            if flush:
                self.stream.flush()
        except (OSError, ValueError):  # BrokenPipeError, EIO, "I/O operation on closed file"
            self.broken = True
            return 0
        return written

    def _flush(self) -> None:
        if self.broken:
            return
        try:
            self.stream.flush()
        except (OSError, ValueError):
            self.broken = True


class _Guarded:
    """The progress stream as tqdm sees it: writes and flushes that fail mark the Progress broken instead
    of raising; anything else (``isatty``, ``fileno``, ``encoding``, ...) is the stream's own."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def write(self, text: str) -> int:
        # tqdm flushes on its own schedule; flushing each of its partial writes would double the syscalls.
        return self._progress._write(text, flush=False)

    def flush(self) -> None:
        self._progress._flush()

    def __getattr__(self, name: str) -> object:
        return getattr(self._progress.stream, name)
