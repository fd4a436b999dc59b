"""The concurrency gate: a bound on jobs generating at once, first come first served, shrinking on 429."""

from __future__ import annotations

import asyncio

import pytest

from photogpt_batch.engine.gate import Gate


async def test_at_most_limit_holders_and_first_come_first_served() -> None:
    gate = Gate(2)
    order: list[int] = []
    release = asyncio.Event()
    peak = 0

    async def worker(i: int) -> None:
        nonlocal peak
        async with gate.slot():
            order.append(i)
            peak = max(peak, gate.active)
            await release.wait()

    tasks = [asyncio.create_task(worker(i)) for i in range(6)]
    for _ in range(20):
        await asyncio.sleep(0)  # let every worker reach the gate
    assert order == [0, 1] and gate.active == 2
    release.set()
    await asyncio.gather(*tasks)
    assert order == list(range(6)) and peak == 2 and gate.active == 0


async def test_back_off_halves_the_limit_and_recover_grows_it_back() -> None:
    gate = Gate(8)
    gate.back_off()
    assert gate.limit == 4
    gate.back_off()
    gate.back_off()
    gate.back_off()
    assert gate.limit == 1
    for _ in range(20):
        await gate.recover()
    assert gate.limit == 8


async def test_resumed_jobs_count_without_waiting() -> None:
    gate = Gate(1)
    gate.enter()
    gate.enter()
    assert gate.active == 2
    waiter = asyncio.create_task(gate._wait_for_room())
    await asyncio.sleep(0)
    assert not waiter.done()
    await gate.leave()
    await asyncio.sleep(0)
    assert not waiter.done()  # one still generating: still full
    await gate.leave()
    await asyncio.wait_for(waiter, 1)
    assert gate.active == 1


async def test_a_cancelled_waiter_does_not_leak_its_slot() -> None:
    gate = Gate(1)
    await gate._wait_for_room()
    waiter = asyncio.create_task(gate._wait_for_room())
    await asyncio.sleep(0)
    await gate.leave()  # hands the slot to the waiter...
    waiter.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.active == 0
    await asyncio.wait_for(gate._wait_for_room(), 1)


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Gate(0)
