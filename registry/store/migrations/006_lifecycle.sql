-- Lifecycle: deployments as desired state (reconciled by the deployment controller), their
-- approvals, and the deprecation notice of a version.

ALTER TABLE agent_versions
    ADD COLUMN deprecated_at        timestamptz,
    ADD COLUMN sunset_at            timestamptz,
    ADD COLUMN replacement_agent_id text;
-- the sunset sweeper: deprecated versions whose sunset has passed
CREATE INDEX agent_versions_sunset ON agent_versions (sunset_at)
    WHERE status = 'deprecated' AND sunset_at IS NOT NULL;

CREATE TABLE deployments (
    deployment_id  text PRIMARY KEY,
    agent_id       text NOT NULL REFERENCES agents (agent_id),
    version        text NOT NULL,
    environment    text NOT NULL,
    replicas       integer NOT NULL CHECK (replicas BETWEEN 1 AND 100),
    traffic_weight integer NOT NULL DEFAULT 100 CHECK (traffic_weight BETWEEN 0 AND 100),
    deployer       text NOT NULL,
    -- what the controller makes so: 'running' (started once the policy allows) or 'stopped'
    desired        text NOT NULL CHECK (desired IN ('running', 'stopped')),
    -- pending: the deployment policies deny it (violations say why; approvals may change that)
    -- progressing | ready | degraded | failed: observed by the controller while desired running
    -- stopping: desired stopped, instances still present; stopped: nothing runs (final)
    status         text NOT NULL CHECK (status IN ('pending', 'progressing', 'ready', 'degraded',
                                                   'failed', 'stopping', 'stopped')),
    requested_by   text NOT NULL,
    replaces       text REFERENCES deployments (deployment_id), -- stopped once this one is ready
    violations     jsonb NOT NULL DEFAULT '[]',  -- of the last policy decision
    instances      jsonb NOT NULL DEFAULT '[]',  -- last observation: [{name, ready, endpoint, restarts, detail}]
    endpoint       text,                         -- where callers reach it (a ready sidecar)
    message        text NOT NULL DEFAULT '',
    stop_reason    text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    ready_at       timestamptz,
    stopped_at     timestamptz,
    observed_at    timestamptz,
    FOREIGN KEY (agent_id, version) REFERENCES agent_versions (agent_id, version)
);
-- one live deployment per agent version and environment (a second promote finds it)
CREATE UNIQUE INDEX deployments_live ON deployments (agent_id, version, environment)
    WHERE status <> 'stopped';
CREATE INDEX deployments_agent ON deployments (agent_id, environment, created_at DESC);
-- the controller's work list
CREATE INDEX deployments_unfinished ON deployments (updated_at) WHERE status <> 'stopped';

CREATE TABLE deployment_approvals (
    deployment_id text NOT NULL REFERENCES deployments (deployment_id),
    approver      text NOT NULL,
    comment       text NOT NULL DEFAULT '',
    at            timestamptz NOT NULL,
    PRIMARY KEY (deployment_id, approver)
);

-- A deployment changes what the catalog says (deployment_count): announce it like the rest.
CREATE TRIGGER deployments_notify AFTER INSERT OR UPDATE OF status OR DELETE ON deployments
    FOR EACH ROW EXECUTE FUNCTION greenlang_notify_agent();
