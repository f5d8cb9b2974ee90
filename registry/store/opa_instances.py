"""OPA instances on PostgreSQL: the latest status report of each instance."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from registry.store.agents import Conn
from registry.store.port import Row


class PgOpaInstances:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def upsert(
        self, instance_id: str, labels: Row, bundles: Row, report: Row, at: datetime
    ) -> None:
        await self._conn.execute(
            "INSERT INTO opa_instances (instance_id, labels, bundles, report, first_seen,"
            " last_seen) VALUES ($1, $2::jsonb, $3::jsonb, $4::jsonb, $5, $5)"
            " ON CONFLICT (instance_id) DO UPDATE SET labels = EXCLUDED.labels,"
            " bundles = EXCLUDED.bundles, report = EXCLUDED.report,"
            " last_seen = EXCLUDED.last_seen",
            instance_id,
            json.dumps(labels),
            json.dumps(bundles),
            json.dumps(report),
            at,
        )

    async def list_all(self) -> list[dict[str, Any]]:
        rows = await self._conn.fetch("SELECT * FROM opa_instances ORDER BY instance_id")
        return [
            {
                "instance_id": r["instance_id"],
                "labels": json.loads(r["labels"]),
                "bundles": json.loads(r["bundles"]),
                "last_seen": r["last_seen"],
            }
            for r in rows
        ]
