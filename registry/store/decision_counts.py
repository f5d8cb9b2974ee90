"""The report rollups on PostgreSQL (migration 011): the intake's deltas added in two statements
per batch, inside the transaction that stores the events."""

from __future__ import annotations

from collections.abc import Sequence

from kernel.audit_event import SidecarEvent
from registry.reports.rollup import MAX_EXAMPLES, tally_decisions
from registry.store.agents import Conn
from registry.store.migrate import available_migrations

ADD_DECISIONS_SQL = """
INSERT INTO decision_counts AS c
    (agent_id, day, version, calls, allowed, warned, denied, refused, fail_open, violating)
SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::bigint[], $5::bigint[],
                     $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])
ON CONFLICT (agent_id, day, version) DO UPDATE SET
    calls = c.calls + excluded.calls,
    allowed = c.allowed + excluded.allowed,
    warned = c.warned + excluded.warned,
    denied = c.denied + excluded.denied,
    refused = c.refused + excluded.refused,
    fail_open = c.fail_open + excluded.fail_open,
    violating = c.violating + excluded.violating
"""

# Examples travel as one flat text[] of MAX_EXAMPLES slots per row, padded with NULLs.
ADD_POLICIES_SQL = f"""
INSERT INTO policy_counts AS c (agent_id, day, version, policy_id, kind, events, examples)
SELECT d.agent_id, d.day, d.version, d.policy_id, d.kind::"char", d.events,
       array_remove(($7::text[])[(d.n - 1) * {MAX_EXAMPLES} + 1:d.n * {MAX_EXAMPLES}], NULL)
FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::text[], $6::bigint[])
    WITH ORDINALITY AS d(agent_id, day, version, policy_id, kind, events, n)
ON CONFLICT (agent_id, day, version, policy_id, kind) DO UPDATE SET
    events = c.events + excluded.events,
    examples = (c.examples || excluded.examples)[1:{MAX_EXAMPLES}]
"""


async def add_decision_counts(conn: Conn, events: Sequence[SidecarEvent]) -> None:
    """Count the stored `events` into the rollups (inside the caller's transaction)."""
    decisions, policies = tally_decisions(events)
    if decisions:
        columns = [
            [getattr(d, name) for d in decisions]
            for name in (
                "agent_id", "day", "version", "calls", "allowed", "warned", "denied",
                "refused", "fail_open", "violating",
            )
        ]  # fmt: skip
        await conn.execute(ADD_DECISIONS_SQL, *columns)
    if policies:
        examples = [
            x for p in policies for x in p.examples + [None] * (MAX_EXAMPLES - len(p.examples))
        ]
        await conn.execute(
            ADD_POLICIES_SQL,
            [p.agent_id for p in policies],
            [p.day for p in policies],
            [p.version for p in policies],
            [p.policy_id for p in policies],
            [p.kind for p in policies],
            [p.events for p in policies],
            examples,
        )


def backfill_sql(prefix: str = "") -> list[str]:
    """The backfill statements of migration 011, writing into `<prefix>decision_counts` and
    `<prefix>policy_counts` (the bench and the tests check them against the intake's counts)."""
    sql = next(text for version, _, text in available_migrations() if version == 11)
    body = sql.split("-- Backfill", 1)[1].split("\n", 2)[2]
    statements = [s.strip() for s in body.split(";") if s.strip()]
    return [
        s.replace("INSERT INTO decision_counts", f"INSERT INTO {prefix}decision_counts").replace(
            "INSERT INTO policy_counts", f"INSERT INTO {prefix}policy_counts"
        )
        for s in statements
    ]
