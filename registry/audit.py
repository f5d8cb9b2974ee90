"""Hash-chained audit trail: each event's hash covers its content and the previous event's hash,
so editing or deleting a stored event breaks the chain at that point."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

GENESIS = "0" * 64
AUDIT_LOCK = 7_140_002  # advisory lock serialising appends, so the chain has one order


@dataclass
class AuditRecord:
    actor: str
    action: str
    target: str
    agent_id: str | None = None
    before: Any = None
    after: Any = None
    reason: str | None = None
    request_id: str | None = None
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(prev_hash: str, event: dict[str, Any]) -> str:
    """sha256 over the previous hash and the canonical JSON of the event's content fields."""
    body = {
        "event_id": event["event_id"],
        "at": _canonical_time(event["at"]),
        "actor": event["actor"],
        "action": event["action"],
        "target": event["target"],
        "agent_id": event["agent_id"],
        "before": event["before"],
        "after": event["after"],
        "reason": event["reason"],
        "request_id": event["request_id"],
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


async def append(conn: asyncpg.Connection, record: AuditRecord) -> str:
    """Append inside the caller's transaction (so the event commits with the change it records)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK)
    prev = await conn.fetchval("SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    prev_hash = prev or GENESIS
    # Round-trip through JSON so the hashed form equals what jsonb gives back on read.
    event = {**record.__dict__}
    event["before"] = json.loads(json.dumps(record.before, default=str))
    event["after"] = json.loads(json.dumps(record.after, default=str))
    digest = event_hash(prev_hash, event)
    await conn.execute(
        "INSERT INTO audit_events (event_id, at, actor, action, target, agent_id, before, after,"
        " reason, request_id, prev_hash, hash)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12)",
        record.event_id,
        record.at,
        record.actor,
        record.action,
        record.target,
        record.agent_id,
        json.dumps(event["before"]),
        json.dumps(event["after"]),
        record.reason,
        record.request_id,
        prev_hash,
        digest,
    )
    return digest


@dataclass
class ChainReport:
    checked: int
    ok: bool
    broken_at_seq: int | None = None
    problem: str | None = None


async def verify_chain(pool: asyncpg.Pool, batch: int = 5000) -> ChainReport:
    """Walk the whole chain in seq order, recomputing every hash."""
    prev_hash, last_seq, checked = GENESIS, 0, 0
    async with pool.acquire() as conn:
        while True:
            rows = await conn.fetch(
                "SELECT * FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2", last_seq, batch
            )
            if not rows:
                return ChainReport(checked=checked, ok=True)
            for row in rows:
                event = decode_row(row)
                if row["prev_hash"] != prev_hash:
                    return ChainReport(checked, False, row["seq"], "previous-hash link broken")
                if event_hash(prev_hash, event) != row["hash"]:
                    return ChainReport(checked, False, row["seq"], "content does not match hash")
                prev_hash, last_seq, checked = row["hash"], row["seq"], checked + 1


def decode_row(row: asyncpg.Record) -> dict[str, Any]:
    event = dict(row)
    for key in ("before", "after"):
        event[key] = json.loads(event[key]) if event[key] is not None else None
    return event
