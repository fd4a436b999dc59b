"""Helpers for the engine tests: campaigns on disk, a sandbox in a thread, quick engine options, checks."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from photogpt_batch.campaign import Campaign
from photogpt_batch.engine import EngineOptions
from photogpt_batch.layout import ledger_path
from photogpt_batch.runner import RunConfig
from photogpt_batch.sandbox import SandboxConfig, SandboxThread
from photogpt_batch.spec.load import load_campaign

FAST_ENGINE = dict(poll_min_interval=0.02, poll_max_interval=0.2, poll_first_interval=0.05,
                   prepare_first_estimate=0.03)


#: The timings of `fast_sandbox`.
FAST_SANDBOX: dict[str, Any] = dict(generation_seconds=(0.02, 0.1), queue_seconds=0.0, prepare_seconds=0.02,
                                    video_bytes=20_000)


def fast_sandbox(**overrides: Any) -> SandboxConfig:
    """A sandbox whose jobs take tens of milliseconds."""
    return SandboxConfig.quick(**{**FAST_SANDBOX, **overrides})


class PausableClock:
    """A sandbox clock (``fast_sandbox(clock=PausableClock())``) that follows real time but stands still between
    ``pause()`` and ``resume()``: the sandbox's jobs make no progress meanwhile, so a test can hold a run in the
    middle of its work for as long as it needs, however slow the machine. After ``resume()`` it runs on, behind
    real time by the paused span (as a server's clock may be: the tool copes with that)."""

    def __init__(self) -> None:
        self._behind = 0.0
        self._paused_at: float | None = None

    def __call__(self) -> float:
        return self._paused_at if self._paused_at is not None else time.time() - self._behind

    def pause(self) -> None:
        """Stop the clock where it stands."""
        if self._paused_at is None:
            self._paused_at = self()

    def resume(self) -> None:
        """Let it run again from where it stood."""
        if self._paused_at is not None:
            self._behind = time.time() - self._paused_at
            self._paused_at = None


def engine_options(**overrides: Any) -> EngineOptions:
    """Engine options with short intervals, so tests finish quickly."""
    return EngineOptions(**{**FAST_ENGINE, "concurrency": 8, **overrides})


def run_config(sandbox: SandboxThread, key: str = "test-key", **engine: Any) -> RunConfig:
    """A RunConfig pointing at ``sandbox``."""
    return RunConfig(base_url=sandbox.base_url, api_key=key, requests_per_second=1000,
                     engine=engine_options(**engine))


def write_campaign(tmp_path: Path, jobs: int = 3, num_videos: int = 1, name: str = "t",
                   extra: str = "") -> Path:
    """A campaign of ``jobs`` Grok jobs (a matrix over a seed-like index) written to ``tmp_path``."""
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(
        f"""version: 1
campaign: {name}
output: {tmp_path / 'out'}
defaults:
  model: grok-imagine-1.5
  numVideos: {num_videos}
jobs:
  - id: "clip-{{i}}"
    prompt: "shot number {{i}}"
    matrix:
      i: {list(range(1, jobs + 1))}
    options:
      duration: 3
{extra}""",
        encoding="utf-8",
    )
    return spec


def load(spec: Path) -> Campaign:
    """Load a campaign file (it must be valid)."""
    return load_campaign(spec)


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def wait_for_the_clock_to_pass(*paths: Path, clock: Path | None = None) -> None:
    """Wait (polling) until the file system's clock, read in the folder ``clock`` (by default the first path's),
    is past the ctimes of ``paths``: a change from now on gives them another ctime, even on a kernel whose file
    times are coarse (a change within the same tick would not). The records that trust a stat fingerprint keep
    only files whose ctime is older than such a clock."""
    folder = clock if clock is not None else paths[0].parent
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / ".clock-probe"
    probe.touch()
    newest = max(path.stat().st_ctime_ns for path in paths)

    def later() -> bool:
        os.utime(probe)
        return probe.stat().st_ctime_ns > newest

    try:
        wait_until(later, timeout=5, interval=0.001)
    finally:
        probe.unlink(missing_ok=True)


def manifest(output: Path) -> list[dict[str, Any]]:
    """The manifest's entries."""
    path = output / "manifest.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def check_outputs(output: Path, expected_videos: int) -> list[dict[str, Any]]:
    """Every manifest entry's file (earlier versions' included) exists with its recorded size and sha256, and
    ``expected_videos`` of them are current; returns the current entries."""
    entries = manifest(output)
    assert sum(entry["current"] for entry in entries) == expected_videos
    for entry in entries:
        path = output / entry["path"]
        data = path.read_bytes()
        assert len(data) == entry["bytes"], entry
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry
        assert data[4:8] == b"ftyp", f"{path} is not an MP4"
        assert path.resolve().is_relative_to(output.resolve())
    return [entry for entry in entries if entry["current"]]


def posts(sandbox: SandboxThread) -> int:
    """How many POST /videos/generation requests the sandbox has seen."""
    return sandbox.counters.requests.get("POST /videos/generation", 0)


def current_states(output: Path) -> dict[str, int]:
    """Counts of the current job versions' states in ``output``'s SQLite ledger, read-only, while a child process
    may be writing it (empty while the child is still creating it)."""
    path = ledger_path(output)
    if not path.exists():
        return {}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return dict(conn.execute("SELECT state, count(*) FROM jobs WHERE current = 1 GROUP BY state"))
    except sqlite3.Error:  # the child is creating it
        return {}
