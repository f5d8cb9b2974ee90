-- Compliance reports (docs/reports.md): per-day rollups of the sidecars' decision events, filled
-- in the intake transaction for the events it stores (a retried batch counts once), so a report
-- over a year reads a few thousand rows instead of millions of audit events. No foreign keys,
-- for the reason given at agent_usage (migration 008).

-- One row per UTC day, agent and version ('' when the sidecar reported none).
CREATE TABLE decision_counts (
    agent_id   text NOT NULL,
    day        date NOT NULL,
    version    text NOT NULL,
    calls      bigint NOT NULL,
    allowed    bigint NOT NULL,   -- decision allow
    warned     bigint NOT NULL,   -- decision warn
    denied     bigint NOT NULL,   -- decision deny
    refused    bigint NOT NULL,   -- decision error: no decision could be had, the call was refused (fail closed)
    fail_open  bigint NOT NULL,   -- decision fail_open: no decision, the call went through
    violating  bigint NOT NULL,   -- events with at least one violation
    PRIMARY KEY (agent_id, day, version)
);
-- Reports over every agent (a team, a scope, all): one range scan by day.
CREATE INDEX decision_counts_day ON decision_counts (day);

-- One row per UTC day, agent, version, policy and kind: events with a violation ('v') or a
-- warning ('w') of that policy, and up to three of their request ids as examples.
CREATE TABLE policy_counts (
    agent_id   text NOT NULL,
    day        date NOT NULL,
    version    text NOT NULL,
    policy_id  text NOT NULL,
    kind       "char" NOT NULL CHECK (kind IN ('v', 'w')),
    events     bigint NOT NULL,
    examples   text[] NOT NULL,
    PRIMARY KEY (agent_id, day, version, policy_id, kind)
);
CREATE INDEX policy_counts_day ON policy_counts (day);

-- Verified points of the audit chain: a report re-hashes only what was appended after the newest
-- checkpoint whose hash still matches its row (docs/reports.md, "Audit chain").
CREATE TABLE audit_chain_checkpoints (
    seq          bigint PRIMARY KEY,
    hash         text NOT NULL,
    verified_at  timestamptz NOT NULL
);

-- Backfill: the sidecar events stored before this migration, counted the way the intake counts
-- them (registry/reports/rollup.py).
INSERT INTO decision_counts
SELECT agent_id, (at AT TIME ZONE 'UTC')::date, coalesce(after ->> 'version', ''),
       count(*),
       count(*) FILTER (WHERE after ->> 'decision' = 'allow'),
       count(*) FILTER (WHERE after ->> 'decision' = 'warn'),
       count(*) FILTER (WHERE after ->> 'decision' = 'deny'),
       count(*) FILTER (WHERE after ->> 'decision' = 'error'),
       count(*) FILTER (WHERE after ->> 'decision' = 'fail_open'),
       count(*) FILTER (WHERE jsonb_array_length(coalesce(after -> 'violations', '[]')) > 0)
FROM audit_events
WHERE action = 'sidecar.invoke'
GROUP BY 1, 2, 3;

INSERT INTO policy_counts
SELECT agent_id, day, version, policy_id, kind, count(*),
       (array_agg(request_id ORDER BY seq))[1:3]
FROM (
    SELECT DISTINCT e.seq, e.agent_id, (e.at AT TIME ZONE 'UTC')::date AS day,
           coalesce(e.after ->> 'version', '') AS version, f.finding ->> 'policy_id' AS policy_id,
           f.kind::"char" AS kind, e.request_id
    FROM audit_events e
    CROSS JOIN LATERAL (
        SELECT 'v' AS kind, v AS finding FROM jsonb_array_elements(e.after -> 'violations') v
        UNION ALL
        SELECT 'w', w FROM jsonb_array_elements(e.after -> 'warnings') w
    ) f
    WHERE e.action = 'sidecar.invoke'
) per_event
GROUP BY 1, 2, 3, 4, 5;
