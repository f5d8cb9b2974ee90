-- Decision inputs of sidecar audit events, for policy replay (docs/reports.md, "Policy replay").
-- Kept outside the hash-chained audit_events row so that retention can delete them without
-- breaking the chain; the chained event carries `input_sha256` (sha256 of the input's
-- canonical JSON), so an input altered here no longer matches its event.
CREATE TABLE decision_inputs (
    event_id text PRIMARY KEY,           -- audit_events.event_id of the sidecar event
    agent_id text NOT NULL,
    at       timestamptz NOT NULL,       -- the event's time
    input    jsonb NOT NULL              -- {"pre": input, "post": input | null}, masked
);

-- Replay scans a period, of all agents or of one; retention deletes by age.
CREATE INDEX decision_inputs_at ON decision_inputs (at);
CREATE INDEX decision_inputs_agent_at ON decision_inputs (agent_id, at);
