-- Webhooks: subscriptions (per agent or per team) and the delivery outbox the deliverer drains
-- (registry/webhooks/deliverer.py). Deliveries are written in the transaction of the change
-- they announce, so an event is announced if and only if the change committed.

CREATE TABLE webhook_subscriptions (
    subscription_id text PRIMARY KEY,
    url             text NOT NULL CHECK (url ~ '^https?://'),
    agent_id        text REFERENCES agents (agent_id),  -- exactly one of agent_id and team
    team            text,
    events          text[] NOT NULL CHECK (cardinality(events) > 0),  -- names, or '*' for all
    secret          text NOT NULL,  -- HMAC key; served once, in the create response
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL,
    deleted_at      timestamptz,
    CHECK ((agent_id IS NULL) <> (team IS NULL))
);
CREATE INDEX webhook_subscriptions_agent ON webhook_subscriptions (agent_id)
    WHERE deleted_at IS NULL AND agent_id IS NOT NULL;
CREATE INDEX webhook_subscriptions_team ON webhook_subscriptions (team)
    WHERE deleted_at IS NULL AND team IS NOT NULL;

CREATE TABLE webhook_deliveries (
    delivery_id     text PRIMARY KEY,  -- also the X-GreenLang-Delivery header: receivers dedupe on it
    subscription_id text NOT NULL REFERENCES webhook_subscriptions (subscription_id),
    event           text NOT NULL,
    agent_id        text,
    team            text,
    payload         jsonb NOT NULL,    -- the event's data, as the emitter gave it
    occurred_at     timestamptz NOT NULL,
    -- attempts started so far; a claim increments it and leases the row by moving
    -- next_attempt_at forward, so a crashed attempt is retried once the lease ends
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_status     integer,           -- HTTP status of the last attempt (none: no response)
    last_error      text,
    delivered_at    timestamptz,       -- a 2xx answer: final
    gave_up_at      timestamptz,       -- out of attempts, or the subscription was deleted: final
    created_at      timestamptz NOT NULL
);
-- the deliverer's work list: unfinished deliveries by due time
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, created_at DESC);
