-- Bundles built elsewhere (CI) and published to the registry, served as they are.
CREATE TABLE uploaded_bundles (
    name        text PRIMARY KEY,
    content     bytea NOT NULL,
    revision    text NOT NULL,
    sha256      text NOT NULL,
    uploaded_at timestamptz NOT NULL,
    uploaded_by text NOT NULL
);
