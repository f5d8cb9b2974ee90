-- PostgreSQL search adapter: facet counts in one C-level pass (registry/search/postgres.py).
-- `facets` holds one lexeme per facet value, '<field>:<value>' (array_to_tsvector keeps it
-- verbatim), so ts_stat() over the matching rows returns every facet count at once; summing
-- the `status:` counts gives the exact total (every document has exactly one status).
ALTER TABLE search_documents ADD COLUMN facets tsvector NOT NULL DEFAULT ''::tsvector;

UPDATE search_documents SET facets = array_to_tsvector(
    ARRAY(SELECT 'tags:' || v FROM unnest(tags) AS v)
    || ARRAY(SELECT 'regulatory_scope:' || v FROM unnest(regulatory_scope) AS v)
    || ARRAY['owner_team:' || owner_team, 'status:' || status, 'type:' || type]);
