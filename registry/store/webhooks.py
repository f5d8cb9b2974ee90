"""Webhook subscriptions and the delivery outbox on PostgreSQL. Deliveries are claimed with
FOR UPDATE SKIP LOCKED and leased (next_attempt_at moved on), so any number of deliverers can
drain the outbox without posting one delivery twice at once and without holding a transaction
open across the HTTP call."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from registry.store.agents import Conn
from registry.store.port import AttemptResult, DueDelivery, NewSubscription
from registry.webhooks.models import Delivery, Subscription

_SUBSCRIPTION_SQL = """
SELECT s.subscription_id, s.url, s.agent_id, s.team, s.events,
       coalesce(s.team, a.owner_team) AS owner_team, s.created_by, s.created_at
FROM webhook_subscriptions s LEFT JOIN agents a ON a.agent_id = s.agent_id
WHERE s.deleted_at IS NULL
"""

_ENQUEUE_SQL = """
INSERT INTO webhook_deliveries (delivery_id, subscription_id, event, agent_id, team, payload,
                                occurred_at, next_attempt_at, created_at)
SELECT gen_random_uuid()::text, s.subscription_id, $3, $1, $2, $4::jsonb, $5, $5, $5
FROM webhook_subscriptions s
WHERE s.deleted_at IS NULL AND (s.agent_id = $1 OR s.team = $2)
  AND ($3 = ANY (s.events) OR '*' = ANY (s.events))
"""

_CLAIM_SQL = """
WITH due AS (
    SELECT delivery_id FROM webhook_deliveries
    WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= $1
    ORDER BY next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE webhook_deliveries d
SET attempts = d.attempts + 1, next_attempt_at = $1 + make_interval(secs => $3)
FROM due, webhook_subscriptions s
WHERE d.delivery_id = due.delivery_id AND s.subscription_id = d.subscription_id
RETURNING d.delivery_id, d.subscription_id, s.url, s.secret, d.event, d.agent_id, d.team,
          d.payload, d.occurred_at, d.attempts
"""

_RECORD_SQL = """
UPDATE webhook_deliveries
SET last_status = $3::integer, last_error = $4::text,
    delivered_at = CASE WHEN $5::boolean THEN $7::timestamptz END,
    next_attempt_at = coalesce($6::timestamptz, next_attempt_at),
    gave_up_at = CASE WHEN NOT $5 AND $6 IS NULL THEN $7 END
WHERE delivery_id = $1 AND attempts = $2 AND delivered_at IS NULL AND gave_up_at IS NULL
"""


def _subscription(row: Mapping[str, Any]) -> Subscription:
    return Subscription(**{**row, "events": list(row["events"])})


def _delivery(row: Mapping[str, Any]) -> Delivery:
    return Delivery(**{**row, "payload": json.loads(row["payload"])})


class PgWebhooks:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def insert_subscription(self, new: NewSubscription) -> None:
        await self._conn.execute(
            "INSERT INTO webhook_subscriptions (subscription_id, url, agent_id, team, events,"
            " secret, created_by, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
            new.subscription_id,
            new.url,
            new.agent_id,
            new.team,
            list(new.events),
            new.secret,
            new.created_by,
            new.at,
        )

    async def subscription(self, subscription_id: str) -> Subscription | None:
        row = await self._conn.fetchrow(
            _SUBSCRIPTION_SQL + " AND s.subscription_id = $1", subscription_id
        )
        return None if row is None else _subscription(row)

    async def subscriptions(
        self,
        agent_id: str | None = None,
        team: str | None = None,
        owner_team: str | None = None,
        limit: int = 100,
    ) -> list[Subscription]:
        rows = await self._conn.fetch(
            _SUBSCRIPTION_SQL + " AND ($1::text IS NULL OR s.agent_id = $1)"
            " AND ($2::text IS NULL OR s.team = $2)"
            " AND ($3::text IS NULL OR coalesce(s.team, a.owner_team) = $3)"
            " ORDER BY s.created_at DESC, s.subscription_id LIMIT $4",
            agent_id,
            team,
            owner_team,
            limit,
        )
        return [_subscription(r) for r in rows]

    async def delete_subscription(self, subscription_id: str, at: datetime) -> bool:
        status = await self._conn.execute(
            "UPDATE webhook_subscriptions SET deleted_at = $2"
            " WHERE subscription_id = $1 AND deleted_at IS NULL",
            subscription_id,
            at,
        )
        if status != "UPDATE 1":
            return False
        await self._conn.execute(
            "UPDATE webhook_deliveries SET gave_up_at = $2, last_error = 'subscription deleted'"
            " WHERE subscription_id = $1 AND delivered_at IS NULL AND gave_up_at IS NULL",
            subscription_id,
            at,
        )
        return True

    async def enqueue_event(
        self, agent_id: str, team: str, event: str, payload: Mapping[str, Any], at: datetime
    ) -> int:
        status = await self._conn.execute(
            _ENQUEUE_SQL, agent_id, team, event, json.dumps(payload, default=str), at
        )
        return int(status.split()[-1])

    async def claim_due(self, now: datetime, limit: int, lease: float) -> list[DueDelivery]:
        rows = await self._conn.fetch(_CLAIM_SQL, now, limit, lease)
        return [
            DueDelivery(
                delivery_id=r["delivery_id"],
                subscription_id=r["subscription_id"],
                url=r["url"],
                secret=r["secret"],
                event=r["event"],
                agent_id=r["agent_id"],
                team=r["team"],
                payload=json.loads(r["payload"]),
                occurred_at=r["occurred_at"],
                attempt=r["attempts"],
            )
            for r in rows
        ]

    async def record_attempt(
        self, delivery_id: str, attempt: int, result: AttemptResult, at: datetime
    ) -> bool:
        status = await self._conn.execute(
            _RECORD_SQL,
            delivery_id,
            attempt,
            result.status,
            result.error,
            result.delivered,
            None if result.delivered else result.retry_at,
            at,
        )
        return bool(status == "UPDATE 1")

    async def deliveries(self, subscription_id: str, limit: int = 50) -> list[Delivery]:
        rows = await self._conn.fetch(
            "SELECT delivery_id, subscription_id, event, agent_id, team, payload, occurred_at,"
            " attempts, next_attempt_at, last_status, last_error, delivered_at, gave_up_at,"
            " created_at FROM webhook_deliveries WHERE subscription_id = $1"
            " ORDER BY created_at DESC, delivery_id LIMIT $2",
            subscription_id,
            limit,
        )
        return [_delivery(r) for r in rows]
