"""A SandboxThread serves someone else's command (``run --sandbox``): a handler that raises answers 500 but
puts no aiohttp traceback on that command's terminal."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_helpers import HEADERS, MINIMAL

from photogpt_batch.sandbox import SandboxConfig, SandboxThread


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def runner_debug() -> Iterator[_Records]:
    """Records of the sandbox runner's own logger at DEBUG (attached to it directly, so a CLI test that turned
    off propagation for ``photogpt_batch`` earlier in the session does not matter)."""
    logger = logging.getLogger("photogpt_batch.sandbox.runner")
    handler = _Records()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _post_generation(base_url: str) -> int:
    request = urllib.request.Request(
        base_url + "/videos/generation", data=json.dumps(MINIMAL).encode(), method="POST",
        headers={**HEADERS, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_failing_handler_answers_5xx_without_logging_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, runner_debug: _Records
) -> None:
    # The state file cannot be created (its folder is missing), so creating a job raises in the handler.
    # (A directory as the state file fails earlier: the sandbox reads its state back when it starts.)
    config = SandboxConfig.quick(state_file=tmp_path / "missing" / "state.jsonl")
    server_logger = logging.getLogger("aiohttp.server")
    filters_before = list(server_logger.filters)
    caplog.set_level(logging.DEBUG)
    with SandboxThread(config) as sandbox:
        status = _post_generation(sandbox.base_url)
        # Only the sandbox thread's records are held back: the same logger elsewhere still reaches the user.
        server_logger.error("an error from another aiohttp server")
    assert 500 <= status < 600
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["an error from another aiohttp server"]
    assert server_logger.filters == filters_before  # nothing left behind once the thread stopped
    # Kept for whoever turns on DEBUG logging, with its traceback.
    kept = [r for r in runner_debug.records if "Error handling request" in r.getMessage()]
    assert kept and kept[0].exc_info is not None
