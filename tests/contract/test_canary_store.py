"""Contract of the CanaryRepository (registry/store/port.py): one unfinished canary per agent and
environment, its moving parts and intervals, and the sidecar-reported calls an interval is
judged from; plus the deployment track and traffic weight. Runs on each adapter (today: asyncpg
on the real PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from registry.audit.sidecar_intake import SidecarBatch, store_events
from registry.auth.models import Role
from registry.auth.principal import Principal
from registry.canary.models import CanaryInterval, CanarySettingsDoc, CanaryStatus
from registry.store.canaries import INVOCATION_STATS_SQL
from registry.store.port import CanaryProgress, InvocationStats, MetadataStore, NewCanary
from registry.store.postgres import PgMetadataStore
from tests.contract.test_metadata_store import new_deployment, new_version, register, spec
from tests.support.polling import wait_until

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SETTINGS = CanarySettingsDoc(
    step_weights=[10, 25, 50],
    threshold=3,
    min_success_rate=99.0,
    max_p99_ms=500.0,
    min_requests=20,
    inconclusive_budget=5,
    interval_s=30.0,
)
SERVICE = Principal("t-svc", "sidecars", Role.SERVICE, None)


@pytest.fixture(params=["postgres"])
async def store(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> AsyncIterator[MetadataStore]:
    """gl-cbam 1.0.0 (stable, d-stable) and 2.0.0 (canary, d-canary) in production."""
    assert request.param == "postgres"
    store = PgMetadataStore(pool)
    await register(store, spec())
    async with store.transaction() as tx:
        assert await tx.versions.insert(new_version(spec(version="2.0.0")))
        assert await tx.deployments.insert(new_deployment("d-stable"))
        canary = replace(new_deployment("d-canary", "2.0.0"), track="canary")
        assert await tx.deployments.insert(canary)
    yield store


def new_canary(canary_id: str, at: datetime = NOW, environment: str = "production") -> NewCanary:
    return NewCanary(
        canary_id=canary_id,
        agent_id="gl-cbam",
        environment=environment,
        stable_deployment_id="d-stable",
        canary_deployment_id="d-canary",
        stable_version="1.0.0",
        canary_version="2.0.0",
        settings=SETTINGS,
        step=0,
        weight=10,
        requested_by="carla",
        at=at,
    )


def interval(n: int, rate: float | None = 99.5, action: str = "advance") -> CanaryInterval:
    start = NOW + timedelta(seconds=30 * (n - 1))
    return CanaryInterval(
        n=n,
        started_at=start,
        ended_at=start + timedelta(seconds=30),
        weight=10,
        calls=200 if rate is not None else 0,
        errors_5xx=1,
        success_rate=rate,
        p99_ms=123.25 if rate is not None else None,
        violations=0,
        violation_rate=0.0 if rate is not None else None,
        stable_calls=1800,
        stable_violations=2,
        stable_violation_rate=2 / 1800,
        action=action,
        failed=["p99"] if action == "hold" else [],
        reason=f"interval {n}",
    )


def progress(status: CanaryStatus, **over: Any) -> CanaryProgress:
    fields: dict[str, Any] = {
        "status": status,
        "step": 1,
        "weight": 25,
        "failed_checks": 0,
        "inconclusive_count": 0,
        "interval_started_at": NOW,
        "drain_until": None,
        "reason": "",
    }
    fields.update(over)
    return CanaryProgress(**fields)


async def finish(store: MetadataStore, canary_id: str, at: datetime = NOW) -> None:
    await store.canaries.progress(canary_id, progress(CanaryStatus.ROLLED_BACK), at)


# -- the canary record ---------------------------------------------------------------------------


async def test_insert_reads_back_whole(store: MetadataStore) -> None:
    assert await store.canaries.insert(new_canary("c-1"))
    got = await store.canaries.get("c-1")
    assert got is not None
    assert (got.agent_id, got.environment, got.stable_deployment_id, got.canary_deployment_id) == (
        "gl-cbam",
        "production",
        "d-stable",
        "d-canary",
    )
    assert (got.stable_version, got.canary_version, got.settings) == ("1.0.0", "2.0.0", SETTINGS)
    assert (got.status, got.step, got.weight, got.failed_checks, got.inconclusive_count) == (
        CanaryStatus.STARTING,
        0,
        10,
        0,
        0,
    )
    assert (got.interval_started_at, got.drain_until, got.reason, got.requested_by) == (
        None,
        None,
        "",
        "carla",
    )
    assert (got.created_at, got.updated_at, got.finished_at, got.intervals) == (NOW, NOW, None, [])
    assert await store.canaries.get("nope") is None
    assert await store.canaries.lock("nope") is None


async def test_one_unfinished_canary_per_agent_and_environment(store: MetadataStore) -> None:
    assert await store.canaries.insert(new_canary("c-1"))
    assert not await store.canaries.insert(new_canary("c-2", NOW + timedelta(minutes=1)))
    assert await store.canaries.get("c-2") is None
    assert await store.canaries.insert(new_canary("c-s", environment="staging"))
    await store.canaries.progress("c-1", progress(CanaryStatus.PROMOTING), NOW)
    assert not await store.canaries.insert(new_canary("c-2", NOW + timedelta(minutes=1)))
    await finish(store, "c-1", NOW + timedelta(minutes=2))
    assert await store.canaries.insert(new_canary("c-2", NOW + timedelta(minutes=3)))


async def test_racing_inserts_one_wins(store: MetadataStore) -> None:
    async def attempt(i: int) -> bool:
        async with store.transaction() as tx:
            return await tx.canaries.insert(new_canary(f"c-{i}"))

    assert sorted(await asyncio.gather(*(attempt(i) for i in range(4)))) == [
        False,
        False,
        False,
        True,
    ]


async def test_latest_for_unfinished_and_active_for(store: MetadataStore) -> None:
    assert await store.canaries.latest_for("gl-cbam", "production") is None
    assert await store.canaries.insert(new_canary("c-1"))
    await finish(store, "c-1", NOW + timedelta(minutes=1))
    assert await store.canaries.active_for("gl-cbam", "production") is None  # finished ones are not
    assert await store.canaries.unfinished() == []
    assert await store.canaries.insert(new_canary("c-2", NOW + timedelta(minutes=2)))
    assert await store.canaries.add_interval("c-2", interval(1))
    assert await store.canaries.insert(new_canary("c-s", NOW + timedelta(minutes=3), "staging"))
    latest = await store.canaries.latest_for("gl-cbam", "production")
    assert latest is not None and latest.canary_id == "c-2"
    assert [i.n for i in latest.intervals] == [1]
    active = await store.canaries.active_for("gl-cbam", "production")
    assert active is not None and active.canary_id == "c-2" and active.intervals == []
    assert await store.canaries.latest_for("gl-cbam", "qa") is None
    await finish(store, "c-2", NOW + timedelta(minutes=4))  # finished ones are still the latest
    latest = await store.canaries.latest_for("gl-cbam", "production")
    assert latest is not None and latest.canary_id == "c-2"
    assert [c.canary_id for c in await store.canaries.unfinished()] == ["c-s"]
    assert await store.canaries.active_for("gl-cbam", "production") is None
    found = await store.canaries.active_for("gl-cbam", "staging")
    assert found is not None and found.canary_id == "c-s"
    assert await store.canaries.active_for("gl-cbam", "qa") is None


async def test_unfinished_is_oldest_first(store: MetadataStore) -> None:
    assert await store.canaries.insert(new_canary("c-b", NOW + timedelta(minutes=1), "staging"))
    assert await store.canaries.insert(new_canary("c-a", NOW + timedelta(minutes=2)))
    assert await store.canaries.insert(new_canary("c-c", NOW, "qa"))
    assert [c.canary_id for c in await store.canaries.unfinished()] == ["c-c", "c-b", "c-a"]


async def test_progress_writes_the_moving_parts_and_finished_at(store: MetadataStore) -> None:
    assert await store.canaries.insert(new_canary("c-1"))
    later, drain = NOW + timedelta(minutes=5), NOW + timedelta(minutes=6)
    moved = progress(
        CanaryStatus.ROLLING_BACK,
        step=2,
        weight=0,
        failed_checks=3,
        inconclusive_count=1,
        interval_started_at=later,
        drain_until=drain,
        reason="p99 over 500 ms",
    )
    await store.canaries.progress("c-1", moved, later)
    got = await store.canaries.get("c-1")
    assert got is not None
    assert CanaryProgress.of(got) == moved
    assert (got.updated_at, got.finished_at, got.created_at) == (later, None, NOW)
    done = NOW + timedelta(minutes=7)
    await store.canaries.progress("c-1", progress(CanaryStatus.ROLLED_BACK, weight=0), done)
    got = await store.canaries.get("c-1")
    assert got is not None
    assert (got.status, got.updated_at, got.finished_at) == (CanaryStatus.ROLLED_BACK, done, done)


async def test_a_locked_canary_waits_for_its_holder(
    store: MetadataStore, pool: asyncpg.Pool
) -> None:
    assert await store.canaries.insert(new_canary("c-1"))
    assert await store.canaries.add_interval("c-1", interval(1))
    async with store.transaction() as holder:
        locked = await holder.canaries.lock("c-1")
        assert locked is not None and locked.intervals == []  # lock reads no intervals

        async def second() -> int:
            async with store.transaction() as tx:
                again = await tx.canaries.lock("c-1")
                assert again is not None
                return again.step

        waiting = asyncio.create_task(second())
        await wait_until(
            lambda: pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            ),
            limit=10,
            what="the second lock to wait",
        )
        assert not waiting.done()
        await holder.canaries.progress("c-1", progress(CanaryStatus.RUNNING, step=2), NOW)
    assert await waiting == 2  # it read the row after the holder committed


# -- intervals ----------------------------------------------------------------------------------


async def test_intervals_once_per_number_oldest_first(store: MetadataStore) -> None:
    assert await store.canaries.insert(new_canary("c-1"))
    assert await store.canaries.add_interval("c-1", interval(2, None, "inconclusive"))
    assert await store.canaries.add_interval("c-1", interval(1))
    assert await store.canaries.add_interval("c-1", interval(3, 97.5, "hold"))
    assert not await store.canaries.add_interval("c-1", interval(2, 42.0, "rollback"))
    got = await store.canaries.get("c-1")
    assert got is not None
    assert got.intervals == [
        interval(1),
        interval(2, None, "inconclusive"),
        interval(3, 97.5, "hold"),
    ]
    second = got.intervals[1]
    assert (second.success_rate, second.p99_ms, second.violation_rate) == (None, None, None)
    assert got.intervals[2].failed == ["p99"]


# -- invocation stats from sidecar audit events -------------------------------------------------


def event(at: datetime, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "time": at.isoformat(),
        "sidecar": "sc-1",
        "request_id": f"req-{uuid.uuid4().hex[:8]}",
        "trace_id": None,
        "user_id": "carla",
        "agent_id": "gl-cbam",
        "version": "2.0.0",
        "action": "invoke",
        "method": "POST",
        "path": "/v1/calculate",
        "environment": "production",
        "decision": "allow",
        "violations": [],
        "warnings": [],
        "status": 200,
        "latency_ms": 10.0,
        "tokens": None,
    }
    doc.update(over)
    return doc


async def report(pool: asyncpg.Pool, events: list[dict[str, Any]]) -> None:
    """Through the sidecar audit intake, as the registry stores them."""
    result = await store_events(pool, SidecarBatch.model_validate({"events": events}), SERVICE)
    assert result.stored == len(events)


async def stats(
    store: MetadataStore, version: str = "2.0.0", environment: str = "production"
) -> InvocationStats:
    return await store.canaries.invocation_stats(
        "gl-cbam", environment, version, NOW, NOW + timedelta(seconds=30)
    )


async def test_invocation_stats_count_one_version_in_a_window(
    store: MetadataStore, pool: asyncpg.Pool
) -> None:
    inside = NOW + timedelta(seconds=10)
    counted = [
        event(NOW),  # since is inclusive
        event(inside, status=503),
        event(inside, status=500, decision="deny"),
        event(inside, status=403, decision="deny"),
        event(inside, status=499),
    ]
    other = [
        event(NOW - timedelta(microseconds=1)),
        event(NOW + timedelta(seconds=30)),  # until is exclusive
        event(inside, version="1.0.0"),
        event(inside, version=None),
        event(inside, environment="staging"),
        event(inside, environment=None),  # not "production"
        event(inside, agent_id="gl-other"),
    ]
    await report(pool, counted + other)
    got = await stats(store)
    assert (got.calls, got.errors_5xx, got.denials) == (5, 2, 2)
    stable = await stats(store, "1.0.0")
    assert (stable.calls, stable.errors_5xx, stable.denials, stable.p99_ms) == (1, 0, 0, 10.0)
    staging = await stats(store, environment="staging")
    assert staging.calls == 1


async def test_p99_is_a_measured_latency(store: MetadataStore, pool: asyncpg.Pool) -> None:
    at = NOW + timedelta(seconds=1)
    await report(pool, [event(at, latency_ms=float(ms)) for ms in range(100, 0, -1)])
    got = await stats(store)
    assert (got.calls, got.p99_ms) == (100, 99.0)
    await report(pool, [event(at, latency_ms=0.5, version="3.0.0")])
    assert (await stats(store, "3.0.0")).p99_ms == 0.5


async def test_an_empty_window_has_no_p99(store: MetadataStore, pool: asyncpg.Pool) -> None:
    await report(pool, [event(NOW + timedelta(minutes=5))])
    got = await stats(store)
    assert (got.calls, got.errors_5xx, got.p99_ms, got.denials) == (0, 0, None, 0)


async def test_invocation_stats_can_use_their_index(pool: asyncpg.Pool) -> None:
    """With sequential scans off the planner picks an index it can use; a query whose predicate
    does not match the partial index would fall back to another index or a seq scan."""
    args = ("gl-cbam", "production", "2.0.0", NOW, NOW + timedelta(seconds=30))
    async with pool.acquire() as conn:
        await conn.execute("SET enable_seqscan = off")
        try:
            plan = "\n".join(
                r[0] for r in await conn.fetch(f"EXPLAIN {INVOCATION_STATS_SQL}", *args)
            )
        finally:
            await conn.execute("RESET enable_seqscan")
    assert "audit_events_invocations" in plan, plan


# -- the deployment's track and traffic weight --------------------------------------------------


async def test_deployment_track_and_traffic_weight(store: MetadataStore) -> None:
    stable, canary = (
        await store.deployments.get("d-stable"),
        await store.deployments.get("d-canary"),
    )
    assert stable is not None and canary is not None
    assert (stable.track, stable.traffic_weight) == ("stable", 100)
    assert (canary.track, canary.traffic_weight) == ("canary", 100)
    later = NOW + timedelta(minutes=1)
    async with store.transaction() as tx:
        await tx.deployments.set_traffic_weight("d-canary", 25, later)
        await tx.deployments.set_traffic_weight("d-stable", 75, later)
    canary = await store.deployments.get("d-canary")
    assert canary is not None
    assert (canary.track, canary.traffic_weight, canary.updated_at) == ("canary", 25, later)
    stable = await store.deployments.get("d-stable")
    assert stable is not None and (stable.traffic_weight, stable.updated_at) == (75, later)
    done = NOW + timedelta(minutes=2)
    await store.deployments.set_track("d-canary", "stable", done)
    canary = await store.deployments.get("d-canary")
    assert canary is not None and (canary.track, canary.updated_at) == ("stable", done)
    with pytest.raises(asyncpg.CheckViolationError):
        await store.deployments.set_track("d-stable", "beta", done)
    with pytest.raises(asyncpg.CheckViolationError):
        await store.deployments.set_traffic_weight("d-stable", 101, done)
