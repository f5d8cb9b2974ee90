-- Steps a registry takes once per database, whichever process gets there first: the row is
-- inserted (insert-if-absent) in the transaction that does the step, so concurrent starts do it
-- once and a rolled-back attempt leaves it to the next start. `stock-policies`: the stock YAML
-- policies were installed (registry/control_plane/stock.py); an operator's later changes to them
-- are never undone by a restart.
CREATE TABLE setup_steps (
    step     text PRIMARY KEY,
    done_at  timestamptz NOT NULL
);

-- Usage of each agent version, counted from the sidecars' audit events (`sidecar.invoke`) in the
-- intake transaction, for the events stored by it (a retried batch counts once). Served as the
-- agent's `usage_stats` (docs/registry.md, "Usage"); replaces the never-written agents column.
-- No foreign key: the intake holds the audit append lock, and a key check would wait for a
-- catalog write holding the agent row, which itself waits for that lock.
CREATE TABLE agent_usage (
    agent_id      text NOT NULL,
    version       text NOT NULL,   -- '' when the sidecar reported none
    calls         bigint NOT NULL,
    errors        bigint NOT NULL,   -- status >= 500
    denied        bigint NOT NULL,   -- decision deny
    total_tokens  numeric NOT NULL,  -- unbounded: a sum of counts up to 2^53 each
    last_call_at  timestamptz NOT NULL,
    PRIMARY KEY (agent_id, version)
);

-- Usage is part of the agent entry: announce changes like the rest (migration 005).
CREATE TRIGGER agent_usage_notify AFTER INSERT OR UPDATE ON agent_usage
    FOR EACH ROW EXECUTE FUNCTION greenlang_notify_agent();

ALTER TABLE agents DROP COLUMN usage_stats;
