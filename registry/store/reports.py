"""Compliance report reads on PostgreSQL: the rollups of migration 011 summed over a period by
index range scans ((agent_id, day, ...) primary keys, one agent at a time), certificates, and
the lifecycle audit events through the (action, seq) index (they are few; sidecar events are
not read at all)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from registry.store.agents import Conn

LIFECYCLE_ACTIONS = (
    "deployment.create",
    "deployment.rollback",
    "version.deprecate",
    "version.retire",
    "canary.advance",
    "canary.hold",
    "canary.promote",
    "canary.rollback",
    "canary.abort",
)

DECISIONS_SQL = """
SELECT agent_id, version, sum(calls)::bigint AS calls, sum(allowed)::bigint AS allowed,
       sum(warned)::bigint AS warned, sum(denied)::bigint AS denied,
       sum(refused)::bigint AS refused, sum(fail_open)::bigint AS fail_open,
       sum(violating)::bigint AS violating
FROM decision_counts
WHERE agent_id = ANY($1::text[]) AND day >= $2 AND day <= $3
GROUP BY agent_id, version ORDER BY agent_id, version
"""

DAILY_SQL = """
SELECT day, sum(calls)::bigint AS calls, sum(violating)::bigint AS violating
FROM decision_counts
WHERE agent_id = ANY($1::text[]) AND day >= $2 AND day <= $3
GROUP BY day ORDER BY day
"""

POLICIES_SQL = """
SELECT agent_id, policy_id, sum(events) FILTER (WHERE kind = 'v')::bigint AS violations,
       sum(events) FILTER (WHERE kind = 'w')::bigint AS warnings
FROM policy_counts
WHERE agent_id = ANY($1::text[]) AND day >= $2 AND day <= $3
GROUP BY agent_id, policy_id ORDER BY agent_id, policy_id
"""

EXAMPLES_SQL = """
SELECT agent_id, policy_id, (array_agg(x ORDER BY day, version, i))[1:3] AS examples
FROM policy_counts, unnest(examples) WITH ORDINALITY AS u(x, i)
WHERE kind = 'v' AND agent_id = ANY($1::text[]) AND day >= $2 AND day <= $3
GROUP BY agent_id, policy_id
"""

CERTIFICATES_SQL = """
SELECT DISTINCT ON (agent_id, version) agent_id, version, certificate_id, expires_at,
       expires_at > now() AS valid
FROM certificates WHERE agent_id = ANY($1::text[])
ORDER BY agent_id, version, expires_at DESC
"""

LIFECYCLE_SQL = """
SELECT agent_id, at, action, target, actor, reason FROM audit_events
WHERE action = ANY($2::text[]) AND agent_id = ANY($1::text[]) AND at >= $3 AND at < $4
ORDER BY seq
"""


@dataclass(frozen=True)
class AgentRow:
    agent_id: str
    name: str
    team: str
    regulatory_scope: list[str]


@dataclass
class ReportRows:
    """Everything a report is computed from, as the database returned it."""

    agents: list[AgentRow]
    decisions: list[dict[str, Any]]
    daily: list[dict[str, Any]]
    policies: list[dict[str, Any]]
    examples: dict[tuple[str, str], list[str]]
    certificates: dict[tuple[str, str], dict[str, Any]]
    lifecycle: list[dict[str, Any]]
    enabled_policies: list[str]


async def report_agents(
    conn: Conn, agent: str | None, team: str | None, scope: str | None
) -> list[AgentRow]:
    """The registered agents a report covers (deleted ones included: they may have had calls)."""
    where, args = "true", []
    for clause, value in (
        ("agent_id = $1", agent),
        ("owner_team = $1", team),
        ("$1 = ANY(regulatory_scope)", scope),
    ):
        if value is not None:
            where, args = clause, [value]
    rows = await conn.fetch(
        "SELECT agent_id, name, owner_team, regulatory_scope FROM agents"
        f" WHERE {where} ORDER BY agent_id",
        *args,
    )
    return [AgentRow(r[0], r[1], r[2], list(r[3])) for r in rows]


async def report_rows(
    conn: Conn, agents: list[AgentRow], first: date, last: date, start: datetime, end: datetime
) -> ReportRows:
    ids: Sequence[str] = [a.agent_id for a in agents]
    period = (ids, first, last)
    examples = await conn.fetch(EXAMPLES_SQL, *period)
    certificates = await conn.fetch(CERTIFICATES_SQL, ids)
    return ReportRows(
        agents=agents,
        decisions=[dict(r) for r in await conn.fetch(DECISIONS_SQL, *period)],
        daily=[dict(r) for r in await conn.fetch(DAILY_SQL, *period)],
        policies=[dict(r) for r in await conn.fetch(POLICIES_SQL, *period)],
        examples={(r["agent_id"], r["policy_id"]): list(r["examples"]) for r in examples},
        certificates={(r["agent_id"], r["version"]): dict(r) for r in certificates},
        lifecycle=[
            dict(r)
            for r in await conn.fetch(LIFECYCLE_SQL, ids, list(LIFECYCLE_ACTIONS), start, end)
        ],
        enabled_policies=[
            r[0]
            for r in await conn.fetch(
                "SELECT policy_id FROM policies WHERE enabled ORDER BY policy_id"
            )
        ],
    )


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    verified_at: datetime
    current_hash: str | None  # the hash the event at `seq` has now (None: no such event)


async def checkpoints(conn: Conn) -> list[Checkpoint]:
    rows = await conn.fetch(
        "SELECT c.seq, c.hash, c.verified_at, e.hash AS current_hash"
        " FROM audit_chain_checkpoints c LEFT JOIN audit_events e ON e.seq = c.seq"
        " ORDER BY c.seq"
    )
    return [Checkpoint(*r) for r in rows]


async def add_checkpoint(conn: Conn, seq: int, digest: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO audit_chain_checkpoints (seq, hash, verified_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (seq) DO NOTHING",
        seq,
        digest,
        at,
    )
