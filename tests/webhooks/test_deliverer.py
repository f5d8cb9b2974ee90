"""The deliverer against real PostgreSQL and a real local receiver: signed deliveries, retries
with backoff, giving up, audited attempts, and several deliverers sharing one outbox. Retry
timing runs on an injected clock and jitter (run_once step by step), never on wall-clock time."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from registry.store.port import MetadataStore, NewSubscription
from registry.store.postgres import PgMetadataStore
from registry.webhooks.deliverer import WebhookDeliverer
from registry.webhooks.destinations import Destinations, parse_networks
from registry.webhooks.models import Delivery
from registry.webhooks.retry import RetryPolicy
from registry.webhooks.signing import verify
from tests.contract.test_metadata_store import register, spec
from tests.support.polling import wait_until
from tests.support.servers import free_port
from tests.webhooks.receiver import receiver

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SECRET = "whsec_test-secret"
LOOPBACK = Destinations(parse_networks("127.0.0.0/8"))  # the test receivers listen there


def loopback_deliverer(*args: Any, **kw: Any) -> WebhookDeliverer:
    return WebhookDeliverer(*args, destinations=LOOPBACK, **kw)


FAST = RetryPolicy(max_attempts=4, base_delay=10.0, timeout=2.0, poll_interval=0.05)


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
async def store(pool: asyncpg.Pool) -> AsyncIterator[MetadataStore]:
    store = PgMetadataStore(pool)
    await register(store, spec("gl-cbam", team="cbam-team"))
    yield store


async def subscribe(store: MetadataStore, url: str, sid: str = "sub-1") -> None:
    await store.webhooks.insert_subscription(
        NewSubscription(sid, url, "gl-cbam", None, ["*"], SECRET, "tester", T0)
    )


async def announce(store: MetadataStore, n: int = 1, at: datetime = T0) -> None:
    async with store.transaction() as tx:
        for i in range(n):
            data = {"version": "1.0.0", "i": i}
            await tx.webhooks.enqueue_event("gl-cbam", "cbam-team", "version.deprecated", data, at)


async def only_delivery(store: MetadataStore, sid: str = "sub-1") -> Delivery:
    (d,) = await store.webhooks.deliveries(sid)
    return d


async def attempts_audited(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT actor, target, agent_id, after FROM audit_events"
        " WHERE action = 'webhook.delivery' ORDER BY seq"
    )
    return [{**dict(r), "after": json.loads(r["after"])} for r in rows]


async def test_a_delivery_is_signed_and_verifies(store: MetadataStore, pool: asyncpg.Pool) -> None:
    async with receiver() as rec:
        await subscribe(store, rec.url)
        deliverer = loopback_deliverer(store, FAST)
        deliverer.start()
        try:
            await announce(store)
            deliverer.wake()
            await wait_until(lambda: _delivered(store), limit=30, what="delivery")
        finally:
            await deliverer.stop()
    (got,) = rec.got
    d = await only_delivery(store)
    assert (d.attempts, d.last_status, d.gave_up_at) == (1, 200, None)
    headers = got.headers
    assert headers["X-GreenLang-Event"] == "version.deprecated"
    assert headers["X-GreenLang-Delivery"] == d.delivery_id
    assert headers["Content-Type"] == "application/json"
    ts, sig = headers["X-GreenLang-Timestamp"], headers["X-GreenLang-Signature"]
    assert sig.startswith("sha256=")
    assert verify(SECRET, got.body, ts, sig)
    assert not verify("another-secret", got.body, ts, sig)
    assert not verify(SECRET, got.body.replace(b"1.0.0", b"9.9.9"), ts, sig)
    assert not verify(SECRET, got.body, str(int(ts) + 1), sig)
    body = json.loads(got.body)
    assert body == {
        "delivery_id": d.delivery_id,
        "event": "version.deprecated",
        "occurred_at": T0.isoformat(),
        "agent_id": "gl-cbam",
        "team": "cbam-team",
        "subscription_id": "sub-1",
        "data": {"version": "1.0.0", "i": 0},
    }
    (audited,) = await attempts_audited(pool)
    assert audited["target"] == "subscription:sub-1"
    assert audited["agent_id"] == "gl-cbam"
    assert audited["after"] == {
        "delivery_id": d.delivery_id,
        "event": "version.deprecated",
        "attempt": 1,
        "status": 200,
        "error": None,
        "outcome": "delivered",
    }


async def _delivered(store: MetadataStore) -> bool:
    return all(d.delivered_at for d in await store.webhooks.deliveries("sub-1", 500))


async def test_failures_are_retried_until_delivered(
    store: MetadataStore, pool: asyncpg.Pool
) -> None:
    clock = Clock()
    async with receiver(script=[500, 503]) as rec:
        await subscribe(store, rec.url)
        await announce(store)
        deliverer = loopback_deliverer(store, FAST, clock=clock, jitter=lambda: 1.0)
        try:
            for expected_wait in (10.0, 20.0):
                assert await deliverer.run_once() == 1
                d = await only_delivery(store)
                assert d.next_attempt_at == clock.at + timedelta(seconds=expected_wait)
                assert await deliverer.run_once() == 0  # not due yet
                clock.at = d.next_attempt_at
            assert await deliverer.run_once() == 1
        finally:
            await deliverer.stop()
    d = await only_delivery(store)
    assert (d.attempts, d.last_status, d.last_error) == (3, 200, None)
    assert d.delivered_at == clock.at
    assert len(rec.got) == 3
    assert len({r.body for r in rec.got}) == 1  # the same bytes every time
    assert {r.headers["X-GreenLang-Delivery"] for r in rec.got} == {d.delivery_id}
    audited = [a["after"] for a in await attempts_audited(pool)]
    assert [(a["attempt"], a["status"], a["outcome"]) for a in audited] == [
        (1, 500, "retrying"),
        (2, 503, "retrying"),
        (3, 200, "delivered"),
    ]
    assert [a["error"] for a in audited] == ["HTTP 500", "HTTP 503", None]


async def test_an_unreachable_receiver_is_given_up_after_n_attempts(
    store: MetadataStore, pool: asyncpg.Pool
) -> None:
    clock = Clock()
    await subscribe(store, f"http://127.0.0.1:{free_port()}/hook")  # nothing listens there
    await announce(store)
    deliverer = loopback_deliverer(store, FAST, clock=clock, jitter=lambda: 0.0)
    waits = []
    try:
        for _ in range(FAST.max_attempts - 1):
            assert await deliverer.run_once() == 1
            d = await only_delivery(store)
            assert d.gave_up_at is None
            waits.append((d.next_attempt_at - clock.at).total_seconds())
            clock.at = d.next_attempt_at
        assert await deliverer.run_once() == 1
        assert await deliverer.run_once() == 0
        clock.at += timedelta(days=30)
        assert await deliverer.run_once() == 0  # given up: never claimed again
    finally:
        await deliverer.stop()
    assert waits == [5.0, 10.0, 20.0]  # base 10 s doubling, jitter at its low end (half)
    d = await only_delivery(store)
    assert d.attempts == FAST.max_attempts
    assert d.delivered_at is None
    assert d.last_status is None
    assert d.last_error and d.last_error.startswith("ConnectError")
    audited = [a["after"] for a in await attempts_audited(pool)]
    assert [a["outcome"] for a in audited] == ["retrying"] * 3 + ["gave_up"]
    assert [a["attempt"] for a in audited] == [1, 2, 3, 4]
    assert all(a["error"].startswith("ConnectError") for a in audited)


async def test_a_receiver_that_does_not_answer_times_out(store: MetadataStore) -> None:
    policy = RetryPolicy(max_attempts=2, timeout=0.2)
    async with receiver(delay=30) as rec:
        await subscribe(store, rec.url)
        await announce(store)
        deliverer = loopback_deliverer(store, policy, clock=Clock())
        try:
            assert await deliverer.run_once() == 1
        finally:
            await deliverer.stop()
    d = await only_delivery(store)
    assert d.last_error and "Timeout" in d.last_error
    assert d.gave_up_at is None and d.delivered_at is None


async def test_redirects_and_client_errors_are_failures(store: MetadataStore) -> None:
    async with receiver(script=[302, 404]) as rec:
        await subscribe(store, rec.url)
        await announce(store)
        clock = Clock()
        deliverer = loopback_deliverer(store, FAST, clock=clock)
        try:
            assert await deliverer.run_once() == 1
            clock.at += timedelta(hours=1)
            assert await deliverer.run_once() == 1
        finally:
            await deliverer.stop()
    d = await only_delivery(store)
    assert (d.attempts, d.last_status, d.last_error, d.delivered_at) == (2, 404, "HTTP 404", None)


async def test_two_deliverers_never_post_a_delivery_twice(store: MetadataStore) -> None:
    async with receiver(delay=0.02) as rec:
        await subscribe(store, rec.url)
        await announce(store, n=60)
        policy = RetryPolicy(batch=5, poll_interval=0.05)
        one, two = loopback_deliverer(store, policy), loopback_deliverer(store, policy)
        one.start()
        two.start()
        try:
            await wait_until(lambda: _delivered(store), limit=60, what="all deliveries")
        finally:
            await one.stop()
            await two.stop()
    sent = Counter(r.headers["X-GreenLang-Delivery"] for r in rec.got)
    assert len(sent) == 60
    assert set(sent.values()) == {1}
    assert {d.attempts for d in await store.webhooks.deliveries("sub-1", 500)} == {1}


async def test_concurrent_passes_split_the_work(store: MetadataStore) -> None:
    async with receiver() as rec:
        await subscribe(store, rec.url)
        await announce(store, n=30)
        policy = RetryPolicy(batch=30)
        deliverers = [loopback_deliverer(store, policy, clock=Clock()) for _ in range(3)]
        try:
            counts = await asyncio.gather(*(d.run_once() for d in deliverers))
        finally:
            for d in deliverers:
                await d.stop()
    assert sum(counts) == 30
    assert len({r.headers["X-GreenLang-Delivery"] for r in rec.got}) == len(rec.got) == 30


async def test_a_deleted_subscription_gets_nothing_more(store: MetadataStore) -> None:
    async with receiver() as rec:
        await subscribe(store, rec.url)
        await announce(store)
        await store.webhooks.delete_subscription("sub-1", T0)
        deliverer = loopback_deliverer(store, FAST, clock=Clock())
        try:
            assert await deliverer.run_once() == 0
        finally:
            await deliverer.stop()
    assert rec.got == []


async def test_a_private_destination_is_not_posted_to_without_an_allow_list(
    store: MetadataStore, pool: asyncpg.Pool
) -> None:
    async with receiver() as rec:
        await subscribe(store, rec.url)  # stored directly: the API would refuse it already
        await announce(store)
        deliverer = WebhookDeliverer(store, FAST, clock=Clock())  # no networks allowed
        try:
            assert await deliverer.run_once() == 1
        finally:
            await deliverer.stop()
        assert rec.got == []
        d = await only_delivery(store)
        assert d.last_error is not None and d.last_error.startswith("refused: 127.0.0.1 is a")
