"""The audit repository on PostgreSQL: appends under one advisory lock so the hash chain has one
order, and the filtered pages the API serves."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from registry.audit.chain import GENESIS, AuditRecord, chain, prepare
from registry.audit.models import AuditEvent, AuditFilter
from registry.store.agents import Conn

AUDIT_LOCK = 7_140_002  # advisory lock serialising appends, so the chain has one order

INSERT_SQL = (
    "INSERT INTO audit_events (event_id, at, actor, action, target, agent_id, before, after,"
    " reason, request_id, prev_hash, hash)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12)"
)

# A batch goes in with COPY (rows in chain order, so `seq` follows the chain): about half the
# server CPU of an INSERT over unnest() arrays, and no per-element array encoding in the client.
COPY_COLUMNS = [
    "event_id", "at", "actor", "action", "target", "agent_id", "before", "after", "reason",
    "request_id", "prev_hash", "hash",
]  # fmt: skip

# The chain head and which of the ids are stored, in one round trip. Its own statement after the
# lock: a statement that waited for the lock would read with a snapshot from before the wait.
HEAD_AND_KNOWN_SQL = (
    "SELECT (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1) AS head,"
    " (SELECT coalesce(array_agg(event_id), '{}') FROM audit_events"
    " WHERE event_id = ANY($1::text[])) AS known"
)

# The newest audit event that can change the bundle. The predicate is that of the partial index
# audit_events_bundle_state_v4 (migration 010), verbatim, so the planner can use it.
STATE_SQL = (
    "SELECT seq FROM audit_events WHERE action NOT IN ('opa.decision', 'sidecar.invoke')"
    " AND action NOT LIKE 'deployment.%' AND action NOT LIKE 'webhook.%'"
    " AND action NOT LIKE 'canary.%'"
    " ORDER BY seq DESC LIMIT 1"
)

__all__ = ["AuditRecord", "PgAudit", "append", "append_new", "append_new_records", "audit_query"]


async def _lock_and_head(conn: Conn) -> str:
    """Take the append lock (held until the caller's transaction ends); return the chain head."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK)
    prev = await conn.fetchval("SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    return prev or GENESIS


async def append(conn: Conn, record: AuditRecord) -> str:
    """Append inside the caller's transaction (so the event commits with the change it records)."""
    prepared = prepare(record)
    prev_hash = await _lock_and_head(conn)
    digest = chain(prev_hash, prepared.canonical)
    await conn.execute(INSERT_SQL, *prepared.columns, prev_hash, digest)
    return digest


async def append_new(conn: Conn, records: list[AuditRecord]) -> int:
    """Append the records whose event_id is not stored yet; how many were appended."""
    return len(await append_new_records(conn, records))


async def append_new_records(
    conn: Conn, records: list[AuditRecord], *, json_native: bool = False
) -> list[AuditRecord]:
    """Append the records whose event_id is not stored yet (nor earlier in `records`), in order,
    inside the caller's transaction; return those appended. `json_native`: see `prepare`.

    Race-safe: the append lock is taken before looking for known ids, so a concurrent batch with
    the same ids either committed before the lookup (and is seen) or waits for this one."""
    if not records:
        return []
    prepared = [prepare(r, json_native=json_native) for r in records]
    await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK)
    found = await conn.fetchrow(HEAD_AND_KNOWN_SQL, [r.event_id for r in records])
    assert found is not None  # a SELECT without FROM has its one row
    prev_hash, known = found["head"] or GENESIS, set(found["known"])
    rows, appended = [], []
    for record, p in zip(records, prepared, strict=True):
        if record.event_id in known:
            continue
        known.add(record.event_id)
        digest = chain(prev_hash, p.canonical)
        rows.append((*p.columns, prev_hash, digest))
        appended.append(record)
        prev_hash = digest
    if rows:
        await conn.copy_records_to_table("audit_events", records=rows, columns=COPY_COLUMNS)
    return appended


def audit_query(f: AuditFilter) -> tuple[str, list[object]]:
    """SQL and arguments of an audit page. Only the given filters go into the query, so each one
    can use its index (an `$n IS NULL OR col = $n` form would leave that to the plan cache)."""
    where: list[str] = ["seq > $1"]
    args: list[object] = [f.after_seq]
    filters = [
        ("agent_id = ${}", f.agent_id),
        ("action = ${}", f.action),
        ("request_id = ${}", f.request_id),
        # The expression of index audit_events_decision (migration 004).
        ("left(after ->> 'decision', 64) = ${}", f.decision),
        ("at >= ${}", f.since),
        ("at < ${}", f.until),
    ]
    for clause, value in filters:
        if value is not None:
            args.append(value)
            where.append(clause.format(len(args)))
    args.append(f.limit)
    conditions = " AND ".join(where)
    sql = f"SELECT * FROM audit_events WHERE {conditions} ORDER BY seq LIMIT ${len(args)}"
    return sql, args


def decode_row(row: asyncpg.Record) -> dict[str, Any]:
    event = dict(row)
    for key in ("before", "after"):
        event[key] = json.loads(event[key]) if event[key] is not None else None
    return event


class PgAudit:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def append(self, record: AuditRecord) -> str:
        return await append(self._conn, record)

    async def append_new(self, records: list[AuditRecord]) -> int:
        return await append_new(self._conn, records)

    async def page(self, f: AuditFilter) -> list[AuditEvent]:
        sql, args = audit_query(f)
        rows = await self._conn.fetch(sql, *args)
        return [AuditEvent.model_validate(decode_row(r)) for r in rows]

    async def chain_after(self, seq: int, limit: int) -> list[dict[str, Any]]:
        rows = await self._conn.fetch(
            "SELECT * FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2", seq, limit
        )
        return [decode_row(r) for r in rows]

    async def last_bundle_change(self) -> int | None:
        value: int | None = await self._conn.fetchval(STATE_SQL)
        return value
