"""The rate-counting port: the in-process counter and the Redis store (a real redis-server)
answer alike; what only a shared store can do (replicas counting together, outages) follows."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sidecar.rate import SlidingWindowCounter
from sidecar.rate_port import RateCounter, RateStoreUnavailable
from sidecar.rate_redis import RedisRateStore, redis_client
from tests.support.polling import wait_until
from tests.support.rate_stores import ReplicaStores, resolved
from tests.support.redis_server import RedisServer

MakeCounter = Callable[[float], RateCounter]


@pytest.fixture
async def redis_stores(redis_server: RedisServer) -> AsyncIterator[ReplicaStores[RedisRateStore]]:
    stores = ReplicaStores[RedisRateStore](redis_server.url, RedisRateStore)
    yield stores
    await stores.close()


@pytest.fixture(params=["in_process", "redis"])
def make_counter(request: pytest.FixtureRequest) -> MakeCounter:
    if request.param == "in_process":
        return SlidingWindowCounter
    stores: Callable[..., RedisRateStore] = request.getfixturevalue("redis_stores")
    return stores


async def test_counts_before_each_hit(make_counter: MakeCounter) -> None:
    c = make_counter(60)
    assert [await resolved(c.take("alice", t)) for t in range(1, 6)] == [0, 1, 2, 3, 4]
    assert await resolved(c.take("bob", 6)) == 0  # keys are independent


async def test_release_gives_the_place_back(make_counter: MakeCounter) -> None:
    c = make_counter(60)
    for t in (1, 2, 3):
        await resolved(c.take("alice", t))
    await resolved(c.release("alice", 3))
    assert await resolved(c.take("alice", 4)) == 2
    await resolved(c.release("nobody", 99))  # nothing to release: no error


async def test_retry_after(make_counter: MakeCounter) -> None:
    c = make_counter(30)
    assert await resolved(c.retry_after("nobody")) == 1
    await resolved(c.take("alice", 1))
    assert 29 <= await resolved(c.retry_after("alice")) <= 30


async def test_hits_leave_the_window(make_counter: MakeCounter) -> None:
    c = make_counter(1)
    for t in (1, 2, 3):
        await resolved(c.take("alice", t))
    tickets = iter(range(10, 10_000))

    async def emptied() -> bool:
        ticket = next(tickets)
        before = await resolved(c.take("alice", ticket))
        await resolved(c.release("alice", ticket))  # the probe itself does not count
        return before == 0

    await wait_until(emptied, limit=10, interval=0.1, what="the window to empty")


async def test_concurrent_takes_see_distinct_counts(make_counter: MakeCounter) -> None:
    c = make_counter(60)
    counts = await asyncio.gather(*(resolved(c.take("alice", t)) for t in range(1, 21)))
    assert sorted(counts) == list(range(20))


async def test_replicas_count_together(redis_stores: Callable[..., RedisRateStore]) -> None:
    replicas = [redis_stores(60) for _ in range(3)]
    counts = [await replicas[i % 3].take("alice", i // 3 + 1) for i in range(9)]
    assert counts == list(range(9))  # equal tickets on different replicas stay distinct
    await replicas[1].release("alice", 1)
    assert await replicas[2].take("alice", 50) == 8


async def test_agents_are_namespaced(redis_server: RedisServer) -> None:
    a = RedisRateStore(redis_client(redis_server.url), "agent-a", 60)
    b = RedisRateStore(redis_client(redis_server.url), "agent-b", 60)
    try:
        caller = f"carla-{secrets.token_hex(4)}"
        assert [await a.take(caller, t) for t in (1, 2)] == [0, 1]
        assert await b.take(caller, 1) == 0
    finally:
        await a.close()
        await b.close()


async def test_outage_fails_closed_then_recovers(tmp_path: Path) -> None:
    states: list[bool] = []
    with RedisServer(tmp_path) as server:
        store = RedisRateStore(redis_client(server.url), "agent-x", 60, on_state=states.append)
        try:
            assert await store.take("alice", 1) == 0
            server.stop()
            with pytest.raises(RateStoreUnavailable):
                await store.take("alice", 2)
            await store.release("alice", 2)  # swallowed: expires with the window
            assert await store.retry_after("alice") == 60  # the longest it can be
            server.start()  # same port, empty (no persistence)
            assert await store.take("alice", 3) == 0  # reconnected by itself
            assert states == [False, True]
        finally:
            await store.close()


async def test_outage_counts_in_process_when_failing_open(tmp_path: Path) -> None:
    with RedisServer(tmp_path) as server:
        fallback = SlidingWindowCounter(60)
        store = RedisRateStore(redis_client(server.url), "agent-y", 60, fallback=fallback)
        try:
            assert await store.take("alice", 1) == 0
            server.stop()
            assert [await store.take("alice", t) for t in (2, 3, 4)] == [0, 1, 2]
            await store.release("alice", 4)
            assert fallback.count("alice") == 2
            server.start()
            assert await store.take("alice", 5) == 0
            assert len(fallback) == 0  # the store's counts are the truth again
        finally:
            await store.close()
