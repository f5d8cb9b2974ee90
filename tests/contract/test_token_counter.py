"""The token-counting port: the in-process counter and the Redis store (a real redis-server)
sum alike; what only a shared store can do (replicas summing together, outages) follows."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sidecar.rate_port import RateStoreUnavailable, TokenCounter
from sidecar.rate_redis import redis_client
from sidecar.rate_tokens import TokenWindowCounter
from sidecar.rate_tokens_redis import RedisTokenStore
from tests.support.polling import wait_until
from tests.support.rate_stores import ReplicaStores, resolved
from tests.support.redis_server import RedisServer

MakeCounter = Callable[[float], TokenCounter]


@pytest.fixture
async def redis_stores(redis_server: RedisServer) -> AsyncIterator[ReplicaStores[RedisTokenStore]]:
    stores = ReplicaStores[RedisTokenStore](redis_server.url, RedisTokenStore)
    yield stores
    await stores.close()


@pytest.fixture(params=["in_process", "redis"])
def make_counter(request: pytest.FixtureRequest) -> MakeCounter:
    if request.param == "in_process":
        return TokenWindowCounter
    stores: Callable[..., RedisTokenStore] = request.getfixturevalue("redis_stores")
    return stores


async def test_sums_per_key(make_counter: MakeCounter) -> None:
    c = make_counter(60)
    assert await resolved(c.used("alice")) == 0
    for tokens in (120, 0, 35, 1):
        await resolved(c.add("alice", tokens))
    await resolved(c.add("bob", 9))
    assert await resolved(c.used("alice")) == 156
    assert await resolved(c.used("bob")) == 9  # keys are independent


async def test_negative_tokens_are_refused(make_counter: MakeCounter) -> None:
    c = make_counter(60)
    with pytest.raises(ValueError):
        await resolved(c.add("alice", -1))


async def test_large_counts_are_exact(make_counter: MakeCounter) -> None:
    c = make_counter(60)
    for _ in range(3):
        await resolved(c.add("alice", 10**12))
    assert await resolved(c.used("alice")) == 3 * 10**12


async def test_retry_after(make_counter: MakeCounter) -> None:
    c = make_counter(30)
    assert await resolved(c.retry_after("nobody")) == 1
    await resolved(c.add("alice", 5))
    assert 29 <= await resolved(c.retry_after("alice")) <= 31  # Redis: plus one sub-bucket


async def test_tokens_leave_the_window(make_counter: MakeCounter) -> None:
    c = make_counter(1)
    await resolved(c.add("alice", 500))
    assert await resolved(c.used("alice")) == 500

    async def emptied() -> bool:
        return await resolved(c.used("alice")) == 0

    await wait_until(emptied, limit=10, interval=0.1, what="the window to empty")


async def test_concurrent_adds_are_all_counted(make_counter: MakeCounter) -> None:
    c = make_counter(60)
    await asyncio.gather(*(resolved(c.add("alice", n)) for n in range(1, 51)))
    assert await resolved(c.used("alice")) == sum(range(1, 51))


async def test_replicas_sum_together(redis_stores: Callable[..., RedisTokenStore]) -> None:
    replicas = [redis_stores(60) for _ in range(3)]
    for i in range(9):
        await replicas[i % 3].add("alice", 100)
    assert [await r.used("alice") for r in replicas] == [900] * 3


async def test_agents_are_namespaced(redis_server: RedisServer) -> None:
    a = RedisTokenStore(redis_client(redis_server.url), "agent-a", 60)
    b = RedisTokenStore(redis_client(redis_server.url), "agent-b", 60)
    try:
        caller = f"carla-{secrets.token_hex(4)}"
        await a.add(caller, 10)
        assert (await a.used(caller), await b.used(caller)) == (10, 0)
    finally:
        await a.close()
        await b.close()


async def test_outage_fails_closed_then_recovers(tmp_path: Path) -> None:
    states: list[bool] = []
    with RedisServer(tmp_path) as server:
        store = RedisTokenStore(redis_client(server.url), "agent-x", 60, on_state=states.append)
        try:
            await store.add("alice", 10)
            server.stop()
            with pytest.raises(RateStoreUnavailable):
                await store.used("alice")
            await store.add("alice", 10)  # swallowed: the call it counts was answered already
            assert await store.retry_after("alice") == 61  # the longest it can be
            server.start()  # same port, empty (no persistence)
            assert await store.used("alice") == 0  # reconnected by itself
            assert states == [False, True]
        finally:
            await store.close()


async def test_outage_sums_in_process_when_failing_open(tmp_path: Path) -> None:
    with RedisServer(tmp_path) as server:
        fallback = TokenWindowCounter(60)
        store = RedisTokenStore(redis_client(server.url), "agent-y", 60, fallback=fallback)
        try:
            await store.add("alice", 10)
            server.stop()
            assert await store.used("alice") == 0  # this replica's own sum meanwhile
            await store.add("alice", 7)
            assert await store.used("alice") == 7
            server.start()
            assert await store.used("alice") == 0
            assert len(fallback) == 0  # the store's sums are the truth again
        finally:
            await store.close()
