"""Concurrent loads of one key share one load; failures and cancellations are handled."""

from __future__ import annotations

import asyncio

import pytest

from registry.single_flight import SingleFlight


async def test_concurrent_calls_share_one_load() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    loads = 0
    gate = asyncio.Event()

    async def load() -> int:
        nonlocal loads
        loads += 1
        await gate.wait()
        return 42

    calls = [asyncio.create_task(flights.run("k", load)) for _ in range(10)]
    await asyncio.sleep(0)
    assert flights.pending("k")
    gate.set()
    assert await asyncio.gather(*calls) == [42] * 10
    assert loads == 1 and not flights.pending("k")
    assert await flights.run("k", load) == 42 and loads == 2  # a later call loads again


async def test_a_failed_load_fails_every_waiter_and_is_not_kept() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()

    async def broken() -> int:
        await gate.wait()
        raise ValueError("database down")

    calls = [asyncio.create_task(flights.run("k", broken)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)

    async def fine() -> int:
        return 1

    assert await flights.run("k", fine) == 1


async def test_waiters_load_again_when_the_leader_is_cancelled() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    started = asyncio.Event()

    async def slow() -> int:
        started.set()
        await asyncio.sleep(10)
        return 0

    async def quick() -> int:
        return 7

    leader = asyncio.create_task(flights.run("k", slow))
    await started.wait()
    waiter = asyncio.create_task(flights.run("k", quick))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert await asyncio.wait_for(waiter, 2) == 7


async def test_a_cancelled_waiter_leaves_the_load_running() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()

    async def load() -> int:
        await gate.wait()
        return 3

    leader = asyncio.create_task(flights.run("k", load))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(flights.run("k", load))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.set()
    assert await leader == 3
