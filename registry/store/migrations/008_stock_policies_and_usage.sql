-- Steps a registry takes once per database, whichever process gets there first: the row is
-- inserted (insert-if-absent) in the transaction that does the step, so concurrent starts do it
-- once and a rolled-back attempt leaves it to the next start. `stock-policies`: the stock YAML
-- policies were installed (registry/control_plane/stock.py); an operator's later changes to them
-- are never undone by a restart.
CREATE TABLE setup_steps (
    step     text PRIMARY KEY,
    done_at  timestamptz NOT NULL
);
