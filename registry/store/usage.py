"""Agent usage on PostgreSQL (migration 008): deltas added in one statement per batch."""

from __future__ import annotations

from registry.audit.usage import UsageDelta
from registry.store.agents import Conn

# Registered agents only (others' events are still audited); adds to what is stored.
ADD_SQL = """
INSERT INTO agent_usage AS u
    (agent_id, version, calls, errors, denied, total_tokens, last_call_at)
SELECT d.agent_id, d.version, d.calls, d.errors, d.denied, d.total_tokens, d.last_call_at
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::numeric[],
            $7::timestamptz[])
    AS d(agent_id, version, calls, errors, denied, total_tokens, last_call_at)
WHERE EXISTS (SELECT 1 FROM agents a WHERE a.agent_id = d.agent_id)
ON CONFLICT (agent_id, version) DO UPDATE SET
    calls = u.calls + excluded.calls,
    errors = u.errors + excluded.errors,
    denied = u.denied + excluded.denied,
    total_tokens = u.total_tokens + excluded.total_tokens,
    last_call_at = greatest(u.last_call_at, excluded.last_call_at)
"""


async def add_usage(conn: Conn, deltas: list[UsageDelta]) -> None:
    """Inside the caller's transaction (the one storing the events counted)."""
    if not deltas:
        return
    columns = [
        [d.agent_id for d in deltas],
        [d.version for d in deltas],
        [d.calls for d in deltas],
        [d.errors for d in deltas],
        [d.denied for d in deltas],
        [d.total_tokens for d in deltas],
        [d.last_call_at for d in deltas],
    ]
    await conn.execute(ADD_SQL, *columns)
