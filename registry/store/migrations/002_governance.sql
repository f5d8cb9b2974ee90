-- Governance: policies with history, OPA instances reporting status.
CREATE TABLE policies (
    policy_id   text PRIMARY KEY,
    type        text NOT NULL,
    name        text NOT NULL,
    enabled     boolean NOT NULL,
    revision    integer NOT NULL,
    source      text NOT NULL,   -- the YAML as submitted
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE policy_history (
    policy_id  text NOT NULL REFERENCES policies (policy_id),
    revision   integer NOT NULL,
    change     text NOT NULL CHECK (change IN ('create', 'enable', 'disable')),
    enabled    boolean NOT NULL,
    source     text NOT NULL,
    actor      text NOT NULL,
    reason     text,
    at         timestamptz NOT NULL,
    PRIMARY KEY (policy_id, revision)
);

CREATE TABLE opa_instances (
    instance_id text PRIMARY KEY,
    labels      jsonb NOT NULL,
    bundles     jsonb NOT NULL,   -- name -> {active_revision, errors, ...} as OPA reported
    report      jsonb NOT NULL,   -- the whole last report
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);

-- The bundle's state key: the newest audit event that can change bundle contents.
CREATE INDEX audit_events_bundle_state ON audit_events (seq) WHERE action <> 'opa.decision';
