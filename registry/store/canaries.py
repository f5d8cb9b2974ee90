"""The canaries repository on PostgreSQL: the canary record the deployment controller advances,
its analysed intervals, and the sidecar-reported calls an interval is judged from. A canary is
read in one statement (intervals aggregated in, oldest first); the JSON columns come back
decoded. At most one canary per agent and environment is unfinished (index canaries_active)."""

from __future__ import annotations

import builtins
import json
from datetime import datetime
from typing import Any

import asyncpg

from registry.canary.models import Canary, CanaryInterval
from registry.store.agents import Conn
from registry.store.port import CanaryProgress, InvocationStats, NewCanary

_INTERVALS = """, (
    SELECT coalesce(jsonb_agg(to_jsonb(i) - 'canary_id' ORDER BY i.n), '[]')
    FROM canary_intervals i WHERE i.canary_id = c.canary_id
) AS intervals"""

# `{intervals}`, `{where}` and `{tail}` are fixed fragments chosen below, never user text.
_SELECT = "SELECT c.*{intervals} FROM canaries c WHERE {where} {tail}"

_UNFINISHED = "c.status NOT IN ('promoted', 'rolled_back')"

_INSERT = """
INSERT INTO canaries (canary_id, agent_id, environment, stable_deployment_id,
    canary_deployment_id, stable_version, canary_version, settings, status, step, weight,
    requested_by, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 'starting', $9, $10, $11, $12, $12)
ON CONFLICT (agent_id, environment) WHERE status NOT IN ('promoted', 'rolled_back') DO NOTHING
RETURNING true
"""

_PROGRESS = """
UPDATE canaries SET status = $2, step = $3, weight = $4, failed_checks = $5,
    inconclusive_count = $6, interval_started_at = $7, drain_until = $8, reason = $9,
    updated_at = $10, finished_at = CASE WHEN $11::boolean THEN coalesce(finished_at, $10) END
WHERE canary_id = $1
"""

_ADD_INTERVAL = """
INSERT INTO canary_intervals (canary_id, n, started_at, ended_at, weight, calls, errors_5xx,
    success_rate, p99_ms, violations, violation_rate, stable_calls, stable_violations,
    stable_violation_rate, action, failed, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
ON CONFLICT (canary_id, n) DO NOTHING
RETURNING true
"""

# `action = 'sidecar.invoke'` is spelled literally and `at` bounded on both sides, so the
# planner can use the partial index audit_events_invocations (agent_id, at). The intake
# (registry/audit/sidecar_intake.py) validates every event strictly, so the casts hold; a null
# environment never equals a named one.
INVOCATION_STATS_SQL = """
SELECT count(*) AS calls,
       count(*) FILTER (WHERE (after ->> 'status')::integer >= 500) AS errors_5xx,
       percentile_disc(0.99) WITHIN GROUP (ORDER BY (after ->> 'latency_ms')::float8) AS p99_ms,
       count(*) FILTER (WHERE after ->> 'decision' = 'deny') AS denials
FROM audit_events
WHERE action = 'sidecar.invoke' AND agent_id = $1 AND at >= $4 AND at < $5
  AND after ->> 'version' = $3 AND after ->> 'environment' = $2
"""


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _canary(row: asyncpg.Record) -> Canary:
    fields: dict[str, Any] = dict(row)
    fields["settings"] = _decoded(fields["settings"])
    fields["intervals"] = _decoded(fields.get("intervals")) or []
    return Canary.model_validate(fields)


class PgCanaries:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def _fetch(
        self, where: str, *args: Any, tail: str = "", intervals: bool = False
    ) -> list[Canary]:
        sql = _SELECT.format(intervals=_INTERVALS if intervals else "", where=where, tail=tail)
        return [_canary(r) for r in await self._conn.fetch(sql, *args)]

    async def _one(
        self, where: str, *args: Any, tail: str = "", intervals: bool = False
    ) -> Canary | None:
        found = await self._fetch(where, *args, tail=tail, intervals=intervals)
        return found[0] if found else None

    async def insert(self, new: NewCanary) -> bool:
        return bool(
            await self._conn.fetchval(
                _INSERT,
                new.canary_id,
                new.agent_id,
                new.environment,
                new.stable_deployment_id,
                new.canary_deployment_id,
                new.stable_version,
                new.canary_version,
                new.settings.model_dump_json(),
                new.step,
                new.weight,
                new.requested_by,
                new.at,
            )
        )

    async def get(self, canary_id: str) -> Canary | None:
        return await self._one("c.canary_id = $1", canary_id, intervals=True)

    async def lock(self, canary_id: str) -> Canary | None:
        return await self._one("c.canary_id = $1", canary_id, tail="FOR UPDATE")

    async def latest_for(self, agent_id: str, environment: str) -> Canary | None:
        return await self._one(
            "c.agent_id = $1 AND c.environment = $2",
            agent_id,
            environment,
            tail="ORDER BY c.created_at DESC, c.canary_id DESC LIMIT 1",
            intervals=True,
        )

    async def active_for(self, agent_id: str, environment: str) -> Canary | None:
        return await self._one(
            f"c.agent_id = $1 AND c.environment = $2 AND {_UNFINISHED}", agent_id, environment
        )

    async def unfinished(self) -> builtins.list[Canary]:
        return await self._fetch(_UNFINISHED, tail="ORDER BY c.created_at, c.canary_id")

    async def progress(self, canary_id: str, progress: CanaryProgress, at: datetime) -> None:
        await self._conn.execute(
            _PROGRESS,
            canary_id,
            progress.status.value,
            progress.step,
            progress.weight,
            progress.failed_checks,
            progress.inconclusive_count,
            progress.interval_started_at,
            progress.drain_until,
            progress.reason,
            at,
            progress.status.finished,
        )

    async def add_interval(self, canary_id: str, interval: CanaryInterval) -> bool:
        i = interval
        return bool(
            await self._conn.fetchval(
                _ADD_INTERVAL,
                canary_id,
                i.n,
                i.started_at,
                i.ended_at,
                i.weight,
                i.calls,
                i.errors_5xx,
                i.success_rate,
                i.p99_ms,
                i.violations,
                i.violation_rate,
                i.stable_calls,
                i.stable_violations,
                i.stable_violation_rate,
                i.action,
                list(i.failed),
                i.reason,
            )
        )

    async def invocation_stats(
        self, agent_id: str, environment: str, version: str, since: datetime, until: datetime
    ) -> InvocationStats:
        row = await self._conn.fetchrow(
            INVOCATION_STATS_SQL, agent_id, environment, version, since, until
        )
        assert row is not None  # an aggregate without GROUP BY always returns one row
        p99 = row["p99_ms"]
        return InvocationStats(
            calls=int(row["calls"]),
            errors_5xx=int(row["errors_5xx"]),
            p99_ms=None if p99 is None else float(p99),
            denials=int(row["denials"]),
        )
