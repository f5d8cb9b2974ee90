-- PostgreSQL search adapter: facet counts in one C-level pass (registry/search/postgres.py).
-- `facets` holds one lexeme per facet value, '<field>:<value>' (array_to_tsvector keeps it
-- verbatim), so ts_stat() over the matching rows returns every facet count at once; summing
-- the `status:` counts gives the exact total (every document has exactly one status).
ALTER TABLE search_documents ADD COLUMN facets tsvector NOT NULL DEFAULT ''::tsvector;

UPDATE search_documents SET facets = array_to_tsvector(
    ARRAY(SELECT 'tags:' || v FROM unnest(tags) AS v)
    || ARRAY(SELECT 'regulatory_scope:' || v FROM unnest(regulatory_scope) AS v)
    || ARRAY['owner_team:' || owner_team, 'status:' || status, 'type:' || type]);

-- One-typo lookup by deletion variants (symmetric delete): every term is stored under itself and
-- under each string made by deleting one of its characters. Two words are at most one edit
-- apart only if they share such a variant, so a query word probes its own len+1 variants
-- (instead of ~70 generated strings per character) and the few hits are checked exactly.
CREATE TABLE search_term_variants (
    variant text NOT NULL,
    term    text NOT NULL,
    PRIMARY KEY (variant, term)
);

INSERT INTO search_term_variants (variant, term)
SELECT DISTINCT x.v, t.term
FROM search_terms AS t,
    LATERAL (SELECT t.term UNION SELECT left(t.term, i - 1) || substr(t.term, i + 1)
             FROM generate_series(1, length(t.term)) AS i) AS x(v);
