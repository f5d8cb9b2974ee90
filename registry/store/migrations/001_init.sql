-- Registry schema v1: agents, versions, certificates, tokens, hash-chained audit, search outbox.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;

CREATE TABLE agents (
    agent_id         text PRIMARY KEY,
    name             text NOT NULL,
    description      text NOT NULL,
    owner_team       text NOT NULL,
    type             text NOT NULL,
    regulatory_scope text[] NOT NULL DEFAULT '{}',
    tags             text[] NOT NULL DEFAULT '{}',
    current_version  text NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    deleted_at       timestamptz,
    deployment_count integer NOT NULL DEFAULT 0,
    usage_stats      jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE agent_versions (
    agent_id                  text NOT NULL REFERENCES agents (agent_id),
    version                   text NOT NULL,
    status                    text NOT NULL CHECK (status IN ('draft', 'active', 'deprecated', 'retired')),
    spec                      jsonb NOT NULL,
    spec_hash                 text NOT NULL,
    artifact_uri              text,
    artifact_sha256           text,
    artifact_size             bigint,
    registered_certificate_id text,
    changelog                 text NOT NULL DEFAULT '',
    status_reason             text,
    created_at                timestamptz NOT NULL,
    created_by                text NOT NULL,
    updated_at                timestamptz NOT NULL,
    row_version               integer NOT NULL DEFAULT 1,
    PRIMARY KEY (agent_id, version)
);

CREATE TABLE certificates (
    certificate_id text PRIMARY KEY,
    agent_id       text NOT NULL,
    version        text NOT NULL,
    issuer         text NOT NULL,
    issued_at      timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    issued_by      text NOT NULL
);
CREATE INDEX certificates_agent_version ON certificates (agent_id, version, expires_at DESC);

CREATE TABLE api_tokens (
    token_id   text PRIMARY KEY,
    name       text NOT NULL,
    role       text NOT NULL CHECK (role IN ('viewer', 'publisher', 'approver', 'admin')),
    team       text,
    token_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE audit_events (
    seq        bigserial PRIMARY KEY,
    event_id   text NOT NULL UNIQUE,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    agent_id   text,
    before     jsonb,
    after      jsonb,
    reason     text,
    request_id text,
    prev_hash  text NOT NULL,
    hash       text NOT NULL UNIQUE
);
CREATE INDEX audit_events_agent ON audit_events (agent_id, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_at ON audit_events (at);

-- Transactional outbox: one row per changed agent, drained into the search index.
CREATE TABLE search_outbox (
    id         bigserial PRIMARY KEY,
    agent_id   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The PostgreSQL search adapter's own index (fed from the outbox like any other adapter).
CREATE TABLE search_documents (
    agent_id         text PRIMARY KEY,
    name             text NOT NULL,
    description      text NOT NULL,
    owner_team       text NOT NULL,
    type             text NOT NULL,
    status           text NOT NULL,
    current_version  text NOT NULL,
    tags             text[] NOT NULL,
    regulatory_scope text[] NOT NULL,
    tsv              tsvector NOT NULL
);
CREATE INDEX search_documents_tsv ON search_documents USING gin (tsv);
CREATE INDEX search_documents_tags ON search_documents USING gin (tags);
CREATE INDEX search_documents_scope ON search_documents USING gin (regulatory_scope);

-- Vocabulary of indexed words, for one-typo correction of query words.
CREATE TABLE search_terms (
    term text PRIMARY KEY
);
CREATE INDEX search_terms_trgm ON search_terms USING gin (term gin_trgm_ops);
