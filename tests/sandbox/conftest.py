"""Fixtures for the sandbox's conformance tests: real servers on 127.0.0.1, talked to with aiohttp."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from sandbox_helpers import FAST, Api

from photogpt_batch.sandbox import ManualClock, Sandbox, SandboxConfig


@pytest.fixture
async def make_sandbox() -> AsyncIterator[Callable[..., Awaitable[Sandbox]]]:
    """Start sandboxes with FAST timings plus overrides; all are stopped at teardown."""
    started: list[Sandbox] = []

    async def make(**overrides: Any) -> Sandbox:
        sandbox = await Sandbox(SandboxConfig(**{**FAST, **overrides})).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        await sandbox.stop()


@pytest.fixture
async def sandbox(make_sandbox: Callable[..., Awaitable[Sandbox]]) -> Sandbox:
    return await make_sandbox()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def api(session: aiohttp.ClientSession, sandbox: Sandbox) -> Api:
    return Api(session, sandbox)


@pytest.fixture
def api_for(session: aiohttp.ClientSession) -> Callable[[Sandbox], Api]:
    """An Api bound to a sandbox made with make_sandbox."""
    return lambda sandbox: Api(session, sandbox)
