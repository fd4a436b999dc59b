"""Shared fixtures: real aiohttp servers on 127.0.0.1, started per test and closed after it."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from xdist.remote import Producer  # type: ignore[import-untyped]  # pytest-xdist has no py.typed
from xdist.scheduler import LoadScopeScheduling, Scheduling  # type: ignore[import-untyped]

ServeApp = Callable[..., Awaitable[TestServer]]

# pytest rewrites every test module's asserts on import and keeps the result in __pycache__ (ignored by git), unless
# the environment says PYTHONDONTWRITEBYTECODE: then each run, in each xdist worker, rewrites all of them again
# (seconds of CPU per worker). Writing the cache in this process makes the next run start at once.
sys.dont_write_bytecode = False

#: Modules whose tests run on one xdist worker, one after another (`GroupScheduling`), by group: ``cpu``, the
#: benchmark scripts, each busy on the CPU for seconds (together they would starve each other and the
#: timing-sensitive tests); ``browser``, one Chromium and one rendered campaign for the module (its fixtures are
#: module-scoped) and a page whose speed is measured; ``pip``, one pip install of the plugin tutorial for the
#: module instead of one per worker; ``s3``, the tests on the S3-compatible server (moto): one worker imports moto
#: and boto3 and starts the server (a third of a second of CPU, and more, in each worker that would).
XDIST_GROUPS = {
    **dict.fromkeys(("tests/assets/test_store_goes_away.py", "tests/assets/test_store_credentials.py",
                     "tests/assets/test_doctor_store.py", "tests/assets/test_staging_chain.py"), "s3"),
    "tests/test_bench_smoke.py": "cpu",
    "tests/test_review_browser.py": "browser",
    "tests/test_review_lineage_browser.py": "browser",
    "tests/test_docs_example_plugin.py": "pip",
}


class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """``--dist loadgroup`` by module: the tests of an `XDIST_GROUPS` module are one unit of work, sent to one
    worker; every other test is a unit of its own. Units go out largest first (the groups), then in the
    collection's order (`pytest_collection_modifyitems`).

    xdist's own loadgroup reads the group from the node id, where its worker-side hook appends ``@group``;
    with pytest 9.2 that append no longer takes (pytest-dev/pytest-xdist#1386), and the groups silently stopped
    holding. Here the controller finds the group from the module's path, which any node id names."""

    def _split_scope(self, nodeid: str) -> str:
        return XDIST_GROUPS.get(nodeid.split("::", 1)[0], nodeid)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> Scheduling | None:
    """`GroupScheduling` for ``--dist loadgroup`` (pyproject's addopts); any other ``--dist`` as xdist has it.
    tryfirst: xdist's own implementation would answer first otherwise."""
    return GroupScheduling(config, log) if config.getvalue("dist") == "loadgroup" else None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: three workers per core, at most 8. The suite mostly waits (on servers, on the processes it
    starts, on jobs' timings), so one worker per core leaves the cores idle (on 2 cores, ``-m "not slow"`` took
    56 s with 4 workers, 46 s with 6, 50 s with 8: each worker also collects the suite, 3 s of CPU); each
    worker starts its own PostgreSQL cluster for the shared-ledger tests, hence the cap. When only named tests
    (``path::test``) are asked for, one process: starting workers would take longer than the tests."""
    if config.args and all("::" in arg for arg in config.args):
        return 0
    return min(8, 3 * (os.cpu_count() or 1))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the slow tests (processes, benchmarks) first, then the long ones among the others
    (`_long_in_process`), so that the quick ones fill the workers at the end instead of one long test ending the
    run alone (in `pytest -m "not slow"` too). The order is the same in every worker (xdist requires it);
    without xdist it only changes the order."""
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None, not _long_in_process(item)))


#: Tests that take seconds of CPU in the test's own process without drawing examples (so `_long_in_process`
#: cannot tell): started first among the quick ones, like the property tests.
LONG_IN_PROCESS = {
    # ruamel's pure-Python scanner, several seconds before it reaches the recursion limit
    "tests/spec/test_spec_fastpath.py::test_nesting_deep_enough_to_crash_the_c_parser_is_refused_cleanly",
}


def _long_in_process(item: pytest.Item) -> bool:
    """A property test (hypothesis draws up to hundreds of examples: seconds of CPU) or one of `LONG_IN_PROCESS`.
    Started early, they overlap the rest; started last, one of them would end the run alone on one worker."""
    test = getattr(item, "obj", None)
    return bool(getattr(test, "is_hypothesis_test", False)) or item.nodeid in LONG_IN_PROCESS


@pytest.fixture(autouse=True)
def state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test (and every process it starts) keeps this machine's index of campaigns in a folder of its
    own, never in the real home. A patch of its own: a test's ``monkeypatch.undo()`` does not lift it."""
    folder = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(folder))
        yield folder
# The suite talks only to 127.0.0.1: a proxy set for this machine would stand between the tests and their
# servers. The tests of proxies set the variables they need themselves.
NETWORK_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                     "no_proxy", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NETWORK_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def serve() -> AsyncIterator[ServeApp]:
    """``await serve(app, port=None)``: run an aiohttp app on 127.0.0.1 (a free port unless given).

    Handlers are cancelled when their client goes away, and shutdown does not wait for stragglers, so a
    test whose handler hangs on purpose still ends at once.
    """
    servers: list[TestServer] = []

    async def start(app: web.Application, port: int | None = None) -> TestServer:
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server(shutdown_timeout=0.1)
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        await server.close()


@pytest.fixture
def refused_port() -> Iterator[tuple[int, socket.socket]]:
    """A loopback port that refuses connections: bound (so nobody else takes it) but not listening.

    Close the socket to let a test start a server on the port later.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1], sock
    finally:
        sock.close()


@pytest.fixture
def fast_in_process_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run --sandbox`` and ``RunConfig(sandbox=True)`` made fast, for the tests about something else than their
    timings: the in-process sandbox's jobs take tens of milliseconds (not the demo preset's second), and the
    engine options that the command line and `run_campaign` make by default poll at short intervals."""
    from engine_helpers import FAST_SANDBOX, engine_options

    import photogpt_batch.engine
    import photogpt_batch.runner
    from photogpt_batch.sandbox import SandboxConfig

    quick = SandboxConfig.quick
    monkeypatch.setattr(SandboxConfig, "quick", classmethod(lambda cls, **overrides: quick(**{**FAST_SANDBOX,
                                                                                              **overrides})))
    monkeypatch.setattr(photogpt_batch.engine, "EngineOptions", engine_options)  # the CLI imports it from there
    monkeypatch.setattr(photogpt_batch.runner, "EngineOptions", engine_options)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's retries with pauses of milliseconds (its default policy waits up to seconds between tries),
    for the tests of what happens once they are used up."""
    import functools

    from photogpt_batch.client import transport
    from photogpt_batch.net.retry import RetryPolicy

    monkeypatch.setattr(transport, "RetryPolicy", functools.partial(RetryPolicy, base=0.005, cap=0.02))
