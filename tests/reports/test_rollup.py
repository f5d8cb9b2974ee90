"""The report rollups (migration 011): the intake counts each stored event once, even under
retries and concurrent batches, and the migration's backfill counts stored events the same way
as the intake."""

from __future__ import annotations

import asyncio

from registry.store.decision_counts import backfill_sql
from tests.api.conftest import Api
from tests.api.test_sidecar_audit import event, post
from tests.reports.seed import A, seed

TABLES = ("decision_counts", "policy_counts")


async def test_the_backfill_counts_like_the_intake(api: Api) -> None:
    await seed(api)
    async with api.pool.acquire() as conn:
        for table in TABLES:
            await conn.execute(f"CREATE TEMP TABLE bf_{table} (LIKE {table} INCLUDING ALL)")
        for sql in backfill_sql(prefix="bf_"):
            await conn.execute(sql)
        for table in TABLES:
            rows = await conn.fetch(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4")
            again = await conn.fetch(f"SELECT * FROM bf_{table} ORDER BY 1, 2, 3, 4")
            assert [dict(r) for r in again] == [dict(r) for r in rows]
            assert len(rows) > 3  # the unregistered agent's events are counted too


async def test_retried_and_concurrent_batches_count_once(api: Api) -> None:
    shared = event(agent_id=A, decision="deny", violations=[{"policy_id": "p", "message": "m"}])
    batches = [[shared, event(agent_id=A), event(agent_id=A, decision="warn")] for _ in range(6)]
    results = await asyncio.gather(*(post(api, b) for b in [*batches, *batches]))
    assert all(r.status == 200 for r in results)
    calls, denied, warned = await api.pool.fetchrow(
        "SELECT sum(calls), sum(denied), sum(warned) FROM decision_counts"
    )
    assert (calls, denied, warned) == (1 + 2 * 6, 1, 6)
    events, examples = await api.pool.fetchrow("SELECT events, examples FROM policy_counts")
    assert (events, examples) == (1, [shared["request_id"]])
