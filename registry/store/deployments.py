"""The deployments repository on PostgreSQL: desired state written by the lifecycle service and
observations written back by the deployment controller. A deployment is read whole (with its
approvals) in one statement; the JSON columns come back decoded."""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from registry.lifecycle.models import (
    Approval,
    Deployment,
    DeploymentStatus,
    Observation,
    Violation,
)
from registry.store.agents import Conn
from registry.store.port import NewDeployment

# `{where}` and `{tail}` are fixed fragments chosen below, never user text.
_SELECT = """
SELECT d.*, (
    SELECT coalesce(json_agg(json_build_object('approver', a.approver, 'comment', a.comment,
                                               'at', a.at) ORDER BY a.at, a.approver), '[]')
    FROM deployment_approvals a WHERE a.deployment_id = d.deployment_id
) AS approvals
FROM deployments d
WHERE {where}
{tail}
"""

_INSERT = """
INSERT INTO deployments (deployment_id, agent_id, version, environment, replicas,
    traffic_weight, track, deployer, desired, status, requested_by, replaces, violations,
    created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $13, $7, 'running', $8, $9, $10, $11::jsonb, $12, $12)
ON CONFLICT (agent_id, version, environment) WHERE status <> 'stopped' DO NOTHING
RETURNING true
"""

# A pending deployment never started anything, so stopping it is immediate.
_REQUEST_STOP = """
UPDATE deployments SET desired = 'stopped', stop_reason = $2, updated_at = $3,
    status = CASE WHEN status = 'pending' THEN 'stopped' ELSE 'stopping' END,
    stopped_at = CASE WHEN status = 'pending' THEN $3 ELSE stopped_at END
WHERE deployment_id = $1 AND status NOT IN ('stopping', 'stopped')
"""

# Stopped is final: a late observation never revives a deployment.
_OBSERVE = """
UPDATE deployments SET status = $2, instances = $3::jsonb, endpoint = $4, message = $5,
    observed_at = $6, updated_at = $6,
    ready_at = CASE WHEN $2 = 'ready' THEN coalesce(ready_at, $6) ELSE ready_at END,
    stopped_at = CASE WHEN $2 = 'stopped' THEN coalesce(stopped_at, $6) ELSE stopped_at END
WHERE deployment_id = $1 AND status <> 'stopped'
    AND (desired = 'running' OR $2 IN ('stopping', 'stopped'))
"""


def _deployment(row: asyncpg.Record) -> Deployment:
    fields: dict[str, Any] = dict(row)
    for key in ("violations", "instances", "approvals"):
        value = fields[key]
        fields[key] = json.loads(value) if isinstance(value, str) else value
    return Deployment.model_validate(fields)


class PgDeployments:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def _fetch(self, where: str, *args: Any, tail: str = "") -> list[Deployment]:
        rows = await self._conn.fetch(_SELECT.format(where=where, tail=tail), *args)
        return [_deployment(r) for r in rows]

    async def insert(self, new: NewDeployment) -> bool:
        return bool(
            await self._conn.fetchval(
                _INSERT,
                new.deployment_id,
                new.agent_id,
                new.version,
                new.environment,
                new.replicas,
                new.traffic_weight,
                new.deployer,
                new.status.value,
                new.requested_by,
                new.replaces,
                json.dumps([v.model_dump() for v in new.violations]),
                new.at,
                new.track,
            )
        )

    async def get(self, deployment_id: str) -> Deployment | None:
        found = await self._fetch("d.deployment_id = $1", deployment_id)
        return found[0] if found else None

    async def lock(self, deployment_id: str) -> Deployment | None:
        found = await self._fetch("d.deployment_id = $1", deployment_id, tail="FOR UPDATE OF d")
        return found[0] if found else None

    async def live_for(
        self, agent_id: str, version: str | None = None, environment: str | None = None
    ) -> list[Deployment]:
        return await self._fetch(
            "d.agent_id = $1 AND d.status <> 'stopped'"
            " AND ($2::text IS NULL OR d.version = $2)"
            " AND ($3::text IS NULL OR d.environment = $3)",
            agent_id,
            version,
            environment,
            tail="ORDER BY d.created_at, d.deployment_id",
        )

    async def list(
        self,
        agent_id: str | None = None,
        environment: str | None = None,
        status: DeploymentStatus | None = None,
        limit: int = 100,
    ) -> list[Deployment]:
        return await self._fetch(
            "($1::text IS NULL OR d.agent_id = $1) AND ($2::text IS NULL OR d.environment = $2)"
            " AND ($3::text IS NULL OR d.status = $3)",
            agent_id,
            environment,
            status.value if status else None,
            limit,
            tail="ORDER BY d.created_at DESC, d.deployment_id DESC LIMIT $4",
        )

    async def unfinished(self) -> builtins.list[Deployment]:
        return await self._fetch(
            "d.status <> 'stopped'", tail="ORDER BY d.created_at, d.deployment_id"
        )

    async def add_approval(self, deployment_id: str, approval: Approval) -> bool:
        return bool(
            await self._conn.fetchval(
                "INSERT INTO deployment_approvals (deployment_id, approver, comment, at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (deployment_id, approver) DO NOTHING"
                " RETURNING true",
                deployment_id,
                approval.approver,
                approval.comment,
                approval.at,
            )
        )

    async def set_decision(
        self,
        deployment_id: str,
        status: DeploymentStatus,
        violations: Sequence[Violation],
        at: datetime,
    ) -> None:
        await self._conn.execute(
            "UPDATE deployments SET status = $2, violations = $3::jsonb, updated_at = $4"
            " WHERE deployment_id = $1",
            deployment_id,
            status.value,
            json.dumps([v.model_dump() for v in violations]),
            at,
        )

    async def request_stop(self, deployment_id: str, reason: str, at: datetime) -> None:
        await self._conn.execute(_REQUEST_STOP, deployment_id, reason, at)

    async def record_observation(
        self, deployment_id: str, observed: Observation, at: datetime
    ) -> bool:
        done = await self._conn.execute(
            _OBSERVE,
            deployment_id,
            observed.status.value,
            json.dumps([i.model_dump() for i in observed.instances]),
            observed.endpoint,
            observed.message,
            at,
        )
        return bool(done != "UPDATE 0")

    async def count_live(self, agent_id: str) -> int:
        return int(
            await self._conn.fetchval(
                "SELECT count(*) FROM deployments WHERE agent_id = $1 AND status <> 'stopped'",
                agent_id,
            )
        )

    async def set_track(self, deployment_id: str, track: str, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE deployments SET track = $2, updated_at = $3 WHERE deployment_id = $1",
            deployment_id,
            track,
            at,
        )

    async def set_traffic_weight(self, deployment_id: str, weight: int, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE deployments SET traffic_weight = $2, updated_at = $3 WHERE deployment_id = $1",
            deployment_id,
            weight,
            at,
        )
