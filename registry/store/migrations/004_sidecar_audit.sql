-- Sidecar audit intake: a machine role, indexes for querying high-volume sidecar events, and a
-- bundle state key that ignores them.

-- `service`: sidecars and OPAs reporting telemetry (audit events, status, decision logs).
ALTER TABLE api_tokens DROP CONSTRAINT IF EXISTS api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('viewer', 'publisher', 'approver', 'admin', 'service'));

-- GET /api/v1/audit?request_id=...: all events of one request (sidecar event, OPA decision, ...).
CREATE INDEX audit_events_request ON audit_events (request_id, seq) WHERE request_id IS NOT NULL;

-- GET /api/v1/audit?decision=deny: pages in seq order through one decision value without
-- scanning the allows in between. Bounded with left() so that no stored value (decision logs
-- carry whatever a policy returned) can exceed the b-tree's entry size.
CREATE INDEX audit_events_decision ON audit_events ((left(after ->> 'decision', 64)), seq);

-- The bundle's state key: the newest audit event that can change bundle contents. Neither OPA
-- decision logs nor sidecar invocation events can (the predicate must match the query in
-- registry/policy_bundle.py exactly for the planner to use this index).
DROP INDEX IF EXISTS audit_events_bundle_state;
CREATE INDEX audit_events_bundle_state_v2 ON audit_events (seq)
    WHERE action NOT IN ('opa.decision', 'sidecar.invoke');
