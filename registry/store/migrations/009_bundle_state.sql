-- The bundle's state key ignores deployment and webhook events too: none changes what a bundle
-- holds (a deployment that moves the serving version records `agent.serve` as well). Without
-- this every controller observation and delivery attempt would rebuild the bundle. The
-- predicate must match STATE_SQL in registry/store/audit.py exactly for the planner to use it.
DROP INDEX IF EXISTS audit_events_bundle_state_v2;
CREATE INDEX audit_events_bundle_state_v3 ON audit_events (seq)
    WHERE action NOT IN ('opa.decision', 'sidecar.invoke')
      AND action NOT LIKE 'deployment.%' AND action NOT LIKE 'webhook.%';
