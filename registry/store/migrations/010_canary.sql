-- Canary releases (docs/lifecycle.md, "Canary releases"): a canary deployment runs next to the
-- serving (stable) one and receives `weight` percent of the calls; the deployment controller
-- judges it every interval from the sidecars' audit events and advances, holds, promotes or
-- rolls it back. Every verdict is kept with the values it was based on.

-- stable: serves its environment's callers; canary: receives a share through the stable
-- deployment's sidecars and never moves the serving version until promoted.
ALTER TABLE deployments
    ADD COLUMN track text NOT NULL DEFAULT 'stable' CHECK (track IN ('stable', 'canary'));

CREATE TABLE canaries (
    canary_id            text PRIMARY KEY,
    agent_id             text NOT NULL REFERENCES agents (agent_id),
    environment          text NOT NULL,
    stable_deployment_id text NOT NULL REFERENCES deployments (deployment_id),
    canary_deployment_id text NOT NULL REFERENCES deployments (deployment_id),
    stable_version       text NOT NULL,
    canary_version       text NOT NULL,
    -- {step_weights, threshold, min_success_rate, max_p99_ms, min_requests,
    --  inconclusive_budget, interval_s}
    settings             jsonb NOT NULL,
    -- starting: its deployment is pending approval or not ready yet (no traffic)
    -- running: analysed every interval at `weight`
    -- promoting | rolling_back: the verdict is in; the loser drains until `drain_until`
    -- promoted | rolled_back: final
    status               text NOT NULL CHECK (status IN ('starting', 'running', 'promoting',
                                                         'rolling_back', 'promoted',
                                                         'rolled_back')),
    step                 integer NOT NULL CHECK (step >= 0),
    weight               integer NOT NULL CHECK (weight BETWEEN 0 AND 100),
    failed_checks        integer NOT NULL DEFAULT 0 CHECK (failed_checks >= 0),
    inconclusive_count   integer NOT NULL DEFAULT 0 CHECK (inconclusive_count >= 0),
    -- the start of the interval under way; null while starting
    interval_started_at  timestamptz,
    drain_until          timestamptz,
    reason               text NOT NULL DEFAULT '',  -- why it is promoting or rolling back
    requested_by         text NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    finished_at          timestamptz
);
-- one canary under way per agent and environment
CREATE UNIQUE INDEX canaries_active ON canaries (agent_id, environment)
    WHERE status NOT IN ('promoted', 'rolled_back');
CREATE INDEX canaries_agent ON canaries (agent_id, created_at DESC);

CREATE TABLE canary_intervals (
    canary_id             text NOT NULL REFERENCES canaries (canary_id),
    n                     integer NOT NULL CHECK (n >= 1),
    started_at            timestamptz NOT NULL,
    ended_at              timestamptz NOT NULL,
    weight                integer NOT NULL,
    calls                 bigint NOT NULL,
    errors_5xx            bigint NOT NULL,
    success_rate          double precision,   -- percent; null when not measurable
    p99_ms                double precision,
    violations            bigint NOT NULL,
    violation_rate        double precision,
    stable_calls          bigint NOT NULL,
    stable_violations     bigint NOT NULL,
    stable_violation_rate double precision,
    action                text NOT NULL CHECK (action IN ('advance', 'hold', 'rollback',
                                                          'promote', 'inconclusive')),
    failed                text[] NOT NULL DEFAULT '{}',
    reason                text NOT NULL,
    PRIMARY KEY (canary_id, n)
);

-- The analysis reads one agent's sidecar events of one interval.
CREATE INDEX audit_events_invocations ON audit_events (agent_id, at)
    WHERE action = 'sidecar.invoke';

-- Canary events do not change what a bundle holds either (a promotion records `agent.serve`).
-- The predicate must match STATE_SQL in registry/store/audit.py exactly.
DROP INDEX IF EXISTS audit_events_bundle_state_v3;
CREATE INDEX audit_events_bundle_state_v4 ON audit_events (seq)
    WHERE action NOT IN ('opa.decision', 'sidecar.invoke')
      AND action NOT LIKE 'deployment.%' AND action NOT LIKE 'webhook.%'
      AND action NOT LIKE 'canary.%';
