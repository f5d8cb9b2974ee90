"""Contract of the WebhookRepository (registry/store/port.py): subscriptions, fan-out of events
into the delivery outbox in the caller's transaction, safe claiming by several deliverers, and
attempt outcomes. Runs on each adapter (today: asyncpg on the real PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from registry.store.port import AttemptResult, MetadataStore, NewSubscription
from registry.store.postgres import PgMetadataStore
from tests.contract.test_metadata_store import register, spec

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


@pytest.fixture(params=["postgres"])
async def store(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> AsyncIterator[MetadataStore]:
    assert request.param == "postgres"
    store = PgMetadataStore(pool)
    await register(store, spec("gl-cbam", team="cbam-team"))
    await register(store, spec("gl-csrd", team="csrd-team"))
    yield store


def sub(
    sid: str,
    agent_id: str | None = None,
    team: str | None = None,
    events: Sequence[str] = ("*",),
) -> NewSubscription:
    return NewSubscription(
        subscription_id=sid,
        url=f"https://hooks.example/{sid}",
        agent_id=agent_id,
        team=team,
        events=events,
        secret=f"secret-{sid}",
        created_by="tester",
        at=NOW,
    )


async def subscribe(store: MetadataStore, *subs: NewSubscription) -> None:
    async with store.transaction() as tx:
        for s in subs:
            await tx.webhooks.insert_subscription(s)


async def test_subscriptions_read_back_without_secret(store: MetadataStore) -> None:
    await subscribe(store, sub("s1", agent_id="gl-cbam"), sub("s2", team="csrd-team"))
    got = await store.webhooks.subscription("s1")
    assert got is not None
    assert (got.agent_id, got.team, got.owner_team, got.events) == (
        "gl-cbam",
        None,
        "cbam-team",
        ["*"],
    )
    assert "secret" not in got.model_dump()
    assert await store.webhooks.subscription("nope") is None
    listed = await store.webhooks.subscriptions()
    assert {s.subscription_id for s in listed} == {"s1", "s2"}
    by_owner = await store.webhooks.subscriptions(owner_team="cbam-team")
    assert [s.subscription_id for s in by_owner] == ["s1"]
    assert [s.subscription_id for s in await store.webhooks.subscriptions(team="csrd-team")] == [
        "s2"
    ]


async def test_a_subscription_names_exactly_one_scope(store: MetadataStore) -> None:
    for bad in (sub("x", agent_id="gl-cbam", team="cbam-team"), sub("y")):
        with pytest.raises(asyncpg.CheckViolationError):
            await subscribe(store, bad)
    assert await store.webhooks.subscriptions() == []


async def test_enqueue_fans_out_to_matching_live_subscriptions(store: MetadataStore) -> None:
    await subscribe(
        store,
        sub("agent-all", agent_id="gl-cbam"),
        sub("team-deprecated", team="cbam-team", events=["version.deprecated"]),
        sub("team-retired", team="cbam-team", events=["version.retired"]),
        sub("other-agent", agent_id="gl-csrd"),
        sub("other-team", team="csrd-team"),
        sub("gone", agent_id="gl-cbam"),
    )
    assert await store.webhooks.delete_subscription("gone", NOW)
    async with store.transaction() as tx:
        n = await tx.webhooks.enqueue_event(
            "gl-cbam", "cbam-team", "version.deprecated", {"version": "1.0.0"}, NOW
        )
    assert n == 2
    due = await store.webhooks.claim_due(NOW, 10, 60)
    assert {d.subscription_id for d in due} == {"agent-all", "team-deprecated"}
    d = due[0]
    assert (d.event, d.agent_id, d.team, d.payload, d.attempt) == (
        "version.deprecated",
        "gl-cbam",
        "cbam-team",
        {"version": "1.0.0"},
        1,
    )
    assert d.secret == f"secret-{d.subscription_id}"
    assert d.url.endswith(d.subscription_id)


async def test_enqueue_rolls_back_with_the_caller(store: MetadataStore) -> None:
    await subscribe(store, sub("s1", agent_id="gl-cbam"))
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            assert await tx.webhooks.enqueue_event("gl-cbam", "cbam-team", "e", {}, NOW) == 1
            raise RuntimeError("the change failed")
    assert await store.webhooks.deliveries("s1") == []


async def test_a_claim_leases_the_delivery(store: MetadataStore) -> None:
    await subscribe(store, sub("s1", agent_id="gl-cbam"))
    await store.webhooks.enqueue_event("gl-cbam", "cbam-team", "version.retired", {}, NOW)
    assert [d.attempt for d in await store.webhooks.claim_due(NOW, 10, 60)] == [1]
    assert await store.webhooks.claim_due(NOW + timedelta(seconds=59), 10, 60) == []
    # the lease ran out (the deliverer died mid-attempt): claimed again, as attempt 2
    again = await store.webhooks.claim_due(NOW + timedelta(seconds=61), 10, 60)
    assert [d.attempt for d in again] == [2]
    # the first attempt's late outcome no longer applies
    late = AttemptResult(delivered=True, status=200, error=None, retry_at=None)
    assert not await store.webhooks.record_attempt(again[0].delivery_id, 1, late, LATER)
    assert await store.webhooks.record_attempt(again[0].delivery_id, 2, late, LATER)


async def test_attempt_outcomes(store: MetadataStore) -> None:
    await subscribe(store, sub("s1", agent_id="gl-cbam"))
    for _ in range(3):
        await store.webhooks.enqueue_event("gl-cbam", "cbam-team", "version.retired", {}, NOW)
    ok, retry, give_up = await store.webhooks.claim_due(NOW, 10, 60)
    results = {
        ok.delivery_id: AttemptResult(True, 204, None, None),
        retry.delivery_id: AttemptResult(False, 500, "HTTP 500", LATER),
        give_up.delivery_id: AttemptResult(False, None, "connection refused", None),
    }
    for d in (ok, retry, give_up):
        assert await store.webhooks.record_attempt(d.delivery_id, 1, results[d.delivery_id], NOW)
    rows = {d.delivery_id: d for d in await store.webhooks.deliveries("s1")}
    assert rows[ok.delivery_id].delivered_at == NOW
    assert rows[ok.delivery_id].last_status == 204
    assert rows[retry.delivery_id].next_attempt_at == LATER
    assert rows[retry.delivery_id].delivered_at is None
    assert rows[retry.delivery_id].gave_up_at is None
    assert rows[give_up.delivery_id].gave_up_at == NOW
    assert rows[give_up.delivery_id].last_error == "connection refused"
    # final ones are never claimed again; the retry comes back when due
    assert await store.webhooks.claim_due(LATER - timedelta(seconds=1), 10, 60) == []
    assert [d.delivery_id for d in await store.webhooks.claim_due(LATER, 10, 60)] == [
        retry.delivery_id
    ]
    assert not await store.webhooks.record_attempt(ok.delivery_id, 1, results[ok.delivery_id], NOW)


async def test_concurrent_claims_never_share_a_delivery(store: MetadataStore) -> None:
    await subscribe(store, sub("s1", agent_id="gl-cbam"), sub("s2", team="cbam-team"))
    for i in range(50):
        await store.webhooks.enqueue_event("gl-cbam", "cbam-team", "version.retired", {"i": i}, NOW)

    async def claimer() -> list[str]:
        got: list[str] = []
        while batch := await store.webhooks.claim_due(NOW, 7, 600):
            got += [d.delivery_id for d in batch]
        return got

    claims = await asyncio.gather(*(claimer() for _ in range(4)))
    every = [d for c in claims for d in c]
    assert len(every) == 100
    assert len(set(every)) == 100


async def test_deleting_gives_up_unfinished_deliveries(store: MetadataStore) -> None:
    await subscribe(store, sub("s1", agent_id="gl-cbam"))
    await store.webhooks.enqueue_event("gl-cbam", "cbam-team", "version.retired", {}, NOW)
    async with store.transaction() as tx:
        assert await tx.webhooks.delete_subscription("s1", LATER)
        assert not await tx.webhooks.delete_subscription("s1", LATER)
    assert await store.webhooks.subscription("s1") is None
    assert await store.webhooks.subscriptions() == []
    (d,) = await store.webhooks.deliveries("s1")
    assert (d.gave_up_at, d.last_error) == (LATER, "subscription deleted")
    assert await store.webhooks.claim_due(LATER, 10, 60) == []


async def test_deliveries_are_newest_first_and_limited(store: MetadataStore) -> None:
    await subscribe(store, sub("s1", agent_id="gl-cbam"))
    for i in range(3):
        at = NOW + timedelta(seconds=i)
        await store.webhooks.enqueue_event("gl-cbam", "cbam-team", "version.retired", {"i": i}, at)
    got = await store.webhooks.deliveries("s1", limit=2)
    assert [d.payload["i"] for d in got] == [2, 1]
