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


def nul_path(value: Any) -> str | None:
    """Where a NUL character sits in a JSON value (keys included), or None. PostgreSQL text and
    jsonb cannot store U+0000, so such input must be refused before it reaches the database."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path or "value"
        elif isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                if "\x00" in str(key):
                    return where
                stack.append((where, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
    return None


def _canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(prev_hash: str, event: dict[str, Any]) -> str:
    """sha256 over the previous hash and the canonical JSON of the event's content fields."""
    return _chain(prev_hash, _canonical(event))


def _chain(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _canonical(event: dict[str, Any]) -> str:
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
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


INSERT_SQL = (
    "INSERT INTO audit_events (event_id, at, actor, action, target, agent_id, before, after,"
    " reason, request_id, prev_hash, hash)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12)"
)


# One statement for a whole batch: each parameter is one column's array.
BULK_INSERT_SQL = (
    "INSERT INTO audit_events (event_id, at, actor, action, target, agent_id, before, after,"
    " reason, request_id, prev_hash, hash)"
    " SELECT event_id, at, actor, action, target, agent_id, before, after, reason, request_id,"
    " prev_hash, hash FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[],"
    " $5::text[], $6::text[], $7::jsonb[], $8::jsonb[], $9::text[], $10::text[], $11::text[],"
    " $12::text[])"
    " WITH ORDINALITY AS u(event_id, at, actor, action, target, agent_id, before, after, reason,"
    " request_id, prev_hash, hash, n) ORDER BY n"
)


async def _lock_and_head(conn: asyncpg.Connection) -> str:
    """Take the append lock (held until the caller's transaction ends); return the chain head."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK)
    prev = await conn.fetchval("SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    return prev or GENESIS


@dataclass(frozen=True)
class _Prepared:
    """A record's stored columns and canonical text: everything but the chain links, so the
    expensive part is done before the append lock is taken."""

    columns: tuple[Any, ...]
    canonical: str


def _prepare(record: AuditRecord) -> _Prepared:
    # Round-trip through JSON so the hashed form equals what jsonb gives back on read; the
    # dumped text (stable across the round trip) is what gets stored.
    before_json = json.dumps(record.before, default=str)
    after_json = json.dumps(record.after, default=str)
    event = {**record.__dict__, "before": json.loads(before_json), "after": json.loads(after_json)}
    columns = (
        record.event_id,
        record.at,
        record.actor,
        record.action,
        record.target,
        record.agent_id,
        before_json,
        after_json,
        record.reason,
        record.request_id,
    )
    return _Prepared(columns, _canonical(event))


async def append(conn: asyncpg.Connection, record: AuditRecord) -> str:
    """Append inside the caller's transaction (so the event commits with the change it records)."""
    prepared = _prepare(record)
    prev_hash = await _lock_and_head(conn)
    digest = _chain(prev_hash, prepared.canonical)
    await conn.execute(INSERT_SQL, *prepared.columns, prev_hash, digest)
    return digest


async def append_new(conn: asyncpg.Connection, records: list[AuditRecord]) -> int:
    """Append the records whose event_id is not stored yet (nor earlier in `records`), in order,
    inside the caller's transaction; return how many were appended.

    Race-safe: the append lock is taken before looking for known ids, so a concurrent batch with
    the same ids either committed before the lookup (and is seen) or waits for this one."""
    if not records:
        return 0
    prepared = [_prepare(r) for r in records]
    prev_hash = await _lock_and_head(conn)
    known = set(
        await conn.fetchval(
            "SELECT coalesce(array_agg(event_id), '{}') FROM audit_events"
            " WHERE event_id = ANY($1::text[])",
            [r.event_id for r in records],
        )
    )
    rows = []
    for record, p in zip(records, prepared, strict=True):
        if record.event_id in known:
            continue
        known.add(record.event_id)
        digest = _chain(prev_hash, p.canonical)
        rows.append((*p.columns, prev_hash, digest))
        prev_hash = digest
    if rows:
        await conn.execute(BULK_INSERT_SQL, *zip(*rows, strict=True))
    return len(rows)


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
