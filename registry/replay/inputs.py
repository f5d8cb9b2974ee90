"""Decision inputs kept beside the audit chain: stored at intake, read for replay, checked
against the chain, deleted by retention.

The chained sidecar event keeps ``input_sha256`` (sha256 of the input's canonical JSON) instead
of the input; the input itself goes to ``decision_inputs`` (migration 012). Retention can then
delete inputs without touching the chain, and an input edited in place no longer matches its
event's hash (:func:`input_digest`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from registry.replay.retention import purge_expired

_INSERT = (
    "INSERT INTO decision_inputs (event_id, agent_id, at, input)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::jsonb[])"
    " ON CONFLICT (event_id) DO NOTHING"
)


def input_digest(value: Any) -> str:
    """sha256 of the canonical JSON of a decision input (sorted keys, compact, ASCII)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class KeptInput:
    """One input to store: the audit event id it belongs to, its agent and time."""

    event_id: str
    agent_id: str
    at: datetime
    input: dict[str, Any]


async def store_inputs(conn: asyncpg.Connection, inputs: Iterable[KeptInput]) -> int:
    """Insert the inputs of newly appended events (inside the intake's transaction), and
    delete, now and then, those past retention (registry/replay/retention.py)."""
    rows = list(inputs)
    if not rows:
        return 0
    await purge_expired(conn, datetime.now(UTC))
    await conn.execute(
        _INSERT,
        [r.event_id for r in rows],
        [r.agent_id for r in rows],
        [r.at for r in rows],
        [json.dumps(r.input, ensure_ascii=True) for r in rows],
    )
    return len(rows)


@dataclass(frozen=True)
class Recorded:
    """A recorded call as replay needs it: its input, what it was decided, and whether the
    input still matches the hash in the audit chain."""

    event_id: str
    request_id: str | None
    agent_id: str
    at: datetime
    decision: str
    input: dict[str, Any]
    intact: bool


_READ = (
    "SELECT d.event_id, d.agent_id, d.at, d.input::text AS input,"
    " e.request_id, e.after->>'decision' AS decision, e.after->>'input_sha256' AS sha"
    " FROM decision_inputs d JOIN audit_events e ON e.event_id = d.event_id"
    " WHERE d.at >= $1 AND d.at < $2 {agent}"
    " ORDER BY d.at, d.event_id LIMIT $3"
)


async def read_inputs(
    conn: asyncpg.Pool, since: datetime, until: datetime, agent_id: str | None, limit: int
) -> list[Recorded]:
    """The recorded calls of [since, until) (of one agent when given), oldest first, at most
    ``limit``; each checked against its chained hash."""
    args: list[object] = [since, until, limit]
    agent = ""
    if agent_id is not None:
        agent, args = "AND d.agent_id = $4", [*args, agent_id]
    rows = await conn.fetch(_READ.format(agent=agent), *args)
    out = []
    for r in rows:
        value = json.loads(r["input"])
        out.append(
            Recorded(
                event_id=r["event_id"],
                request_id=r["request_id"],
                agent_id=r["agent_id"],
                at=r["at"],
                decision=r["decision"] or "error",
                input=value,
                intact=r["sha"] is not None and input_digest(value) == r["sha"],
            )
        )
    return out
