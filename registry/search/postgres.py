"""Search index on PostgreSQL full-text search: the default adapter, no extra server needed.

Documents live in `search_documents` with a weighted tsvector; every indexed word is also kept in
`search_terms` so a query word with one typo can be widened to the real words it may mean.
The vocabulary only grows (until clear()): a stale term can only add an alternative that matches
nothing, which is cheaper than reference-counting words on every write."""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from registry.catalog.models import Facets, SearchQuery
from registry.search.port import FACET_FIELDS, SearchDocument, SearchHits
from registry.search.text import query_words, words

TYPO_MIN_LEN = 4  # shorter words must match exactly
MAX_TYPO_ALTERNATIVES = 20  # per query word, bounds the tsquery
_ALPHABET = string.ascii_lowercase + string.digits  # words() yields nothing else

_UPSERT = """
INSERT INTO search_documents AS d (agent_id, name, description, owner_team, type, status,
    current_version, tags, regulatory_scope, tsv)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
    setweight(to_tsvector('english', $10), 'A')
    || setweight(to_tsvector('english', $11), 'B')
    || setweight(to_tsvector('english', $12), 'C'))
ON CONFLICT (agent_id) DO UPDATE SET
    name = EXCLUDED.name, description = EXCLUDED.description,
    owner_team = EXCLUDED.owner_team, type = EXCLUDED.type, status = EXCLUDED.status,
    current_version = EXCLUDED.current_version, tags = EXCLUDED.tags,
    regulatory_scope = EXCLUDED.regulatory_scope, tsv = EXCLUDED.tsv
"""

_ADD_TERMS = """
INSERT INTO search_terms (term)
SELECT t FROM unnest($1::text[]) AS t ORDER BY t
ON CONFLICT DO NOTHING
"""

# One typo = Levenshtein distance 1. Every [a-z0-9] string one edit away from a query word is
# generated here (about 70 per character) and probed on the primary key: exactly the terms with
# levenshtein(term, word) = 1, found in well under a millisecond, with a plan that stays an index
# probe even when the prepared statement goes generic (a LATERAL scan with levenshtein_less_equal
# over the vocabulary costs ~1.5 ms per word at 20k terms, and LIKE-on-trigram plans degrade to a
# sequential scan under a generic plan).
_EXISTING_TERMS = "SELECT term FROM search_terms WHERE term = ANY($1::text[])"

_FACETS = """
jsonb_build_object(
    'tags', (SELECT coalesce(jsonb_object_agg(v, n), '{}') FROM
        (SELECT v, count(*) AS n FROM (SELECT unnest(tags) AS v FROM m) AS u GROUP BY v) AS f),
    'regulatory_scope', (SELECT coalesce(jsonb_object_agg(v, n), '{}') FROM
        (SELECT v, count(*) AS n FROM (SELECT unnest(regulatory_scope) AS v FROM m) AS u
        GROUP BY v) AS f),
    'owner_team', (SELECT coalesce(jsonb_object_agg(owner_team, n), '{}') FROM
        (SELECT owner_team, count(*) AS n FROM m GROUP BY owner_team) AS f),
    'status', (SELECT coalesce(jsonb_object_agg(status, n), '{}') FROM
        (SELECT status, count(*) AS n FROM m GROUP BY status) AS f),
    'type', (SELECT coalesce(jsonb_object_agg(type, n), '{}') FROM
        (SELECT type, count(*) AS n FROM m GROUP BY type) AS f)
) AS facets
"""


@dataclass
class _Sql:
    """A statement assembled from fixed fragments; user values only ever travel as $n args."""

    where: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"


class PostgresSearchIndex:
    """SearchIndex over the registry's own PostgreSQL (tables from migration 001)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, docs: Sequence[SearchDocument]) -> None:
        """Replace whole documents; sorted so concurrent upserts lock rows in the same order."""
        latest = {d.agent_id: d for d in docs}
        if not latest:
            return
        rows = [_row(latest[k]) for k in sorted(latest)]
        terms = sorted({t for d in latest.values() for t in _doc_words(d)})
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.executemany(_UPSERT, rows)
            await conn.execute(_ADD_TERMS, terms)

    async def delete(self, agent_ids: Sequence[str]) -> None:
        if agent_ids:
            await self._pool.execute(
                "DELETE FROM search_documents WHERE agent_id = ANY($1::text[])", list(agent_ids)
            )

    async def clear(self) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM search_documents")
            await conn.execute("DELETE FROM search_terms")

    async def close(self) -> None:
        """The pool belongs to the caller; nothing of ours to release."""

    async def search(self, query: SearchQuery) -> SearchHits:
        async with self._pool.acquire() as conn:
            tsqueries = await _tsqueries(conn, query_words(query.query))
            sql = _Sql()
            statement = _search_statement(sql, query, tsqueries)
            row = await conn.fetchrow(statement, *sql.args)
        assert row is not None  # an aggregate-only SELECT always yields one row
        return SearchHits(
            agent_ids=list(row["ids"]), total=int(row["total"]), facets=_facets(row["facets"])
        )


def _doc_words(d: SearchDocument) -> list[str]:
    """Every word the document is findable by: id parts, name, tags, scopes, description."""
    text = " ".join([d.agent_id, d.name, *d.tags, *d.regulatory_scope, d.description])
    return words(text)


def _row(d: SearchDocument) -> tuple[Any, ...]:
    """Arguments of _UPSERT; the tsvector is fed pre-split words so it tokenizes like queries."""
    weight_a = " ".join(words(d.agent_id) + words(d.name))
    weight_b = " ".join(words(" ".join([*d.tags, *d.regulatory_scope])))
    weight_c = " ".join(words(d.description))
    return (
        d.agent_id,
        d.name,
        d.description,
        d.owner_team,
        d.type,
        d.status,
        d.current_version,
        list(d.tags),
        list(d.regulatory_scope),
        weight_a,
        weight_b,
        weight_c,
    )


def _one_edit(word: str) -> set[str]:
    """All [a-z0-9] strings at Levenshtein distance exactly 1 from `word`."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    found = {a + b[1:] for a, b in splits if b}
    found |= {a + c + b[1:] for a, b in splits if b for c in _ALPHABET}
    found |= {a + c + b for a, b in splits for c in _ALPHABET}
    found.discard(word)
    return found


async def _typo_alternatives(conn: asyncpg.Connection, qwords: list[str]) -> dict[str, list[str]]:
    """Indexed words one edit away from each query word of TYPO_MIN_LEN+ characters."""
    owners: dict[str, list[str]] = {}
    for w in sorted({w for w in qwords if len(w) >= TYPO_MIN_LEN}):
        for candidate in _one_edit(w):
            owners.setdefault(candidate, []).append(w)
    if not owners:
        return {}
    found: dict[str, list[str]] = {}
    for r in await conn.fetch(_EXISTING_TERMS, sorted(owners)):
        for w in owners[r["term"]]:
            found.setdefault(w, []).append(r["term"])
    return {w: sorted(terms)[:MAX_TYPO_ALTERNATIVES] for w, terms in found.items()}


async def _tsqueries(conn: asyncpg.Connection, qwords: list[str]) -> tuple[str, str] | None:
    """(tolerant, exact) to_tsquery texts, or None for an empty query.

    Built only from [a-z0-9] words, so no user text can form tsquery operators. Words are
    AND-ed; each is an OR of itself and its one-typo alternatives; the last is also a prefix.
    The exact form ranks typo-free matches first, as Meilisearch's `typo` rule does."""
    if not qwords:
        return None
    alternatives = await _typo_alternatives(conn, qwords)
    last = len(qwords) - 1
    tolerant, exact = [], []
    for i, w in enumerate(qwords):
        own = f"{w}:*" if i == last else w
        tolerant.append("(" + " | ".join([own, *alternatives.get(w, [])]) + ")")
        exact.append(own)
    return " & ".join(tolerant), " & ".join(exact)


def _add_filters(sql: _Sql, query: SearchQuery) -> None:
    """Filters are AND-ed; array filters require every given value (GIN-indexed @>)."""
    if query.tags:
        sql.where.append(f"d.tags @> {sql.arg(list(query.tags))}::text[]")
    if query.regulatory_scope:
        sql.where.append(f"d.regulatory_scope @> {sql.arg(list(query.regulatory_scope))}::text[]")
    if query.owner_team is not None:
        sql.where.append(f"d.owner_team = {sql.arg(query.owner_team)}")
    if query.status is not None:
        sql.where.append(f"d.status = {sql.arg(query.status.value)}")
    if query.type is not None:
        sql.where.append(f"d.type = {sql.arg(query.type)}")


def _search_statement(sql: _Sql, query: SearchQuery, tsqueries: tuple[str, str] | None) -> str:
    """One statement for the page, the exact total and all facets over the matching set.

    Matches are computed once (MATERIALIZED) and shared by page, total and facets; only a bare
    listing is inlined, so its page walks the primary key instead of sorting every document."""
    if tsqueries is None:
        source, scores, order = "search_documents AS d", "", "agent_id"
    else:
        tolerant, exact = tsqueries
        source = (
            f"search_documents AS d, to_tsquery('english', {sql.arg(tolerant)}) AS q,"
            f" to_tsquery('english', {sql.arg(exact)}) AS e"
        )
        sql.where.append("d.tsv @@ q")
        scores = ", ts_rank_cd(d.tsv, q) AS rank, d.tsv @@ e AS exact"
        order = "exact DESC, rank DESC, agent_id"
    _add_filters(sql, query)
    materialize = "MATERIALIZED" if sql.where else "NOT MATERIALIZED"
    where = " AND ".join(sql.where) or "true"
    limit = sql.arg(query.page_size)
    offset = sql.arg((query.page - 1) * query.page_size)
    return (
        f"WITH m AS {materialize} ("
        " SELECT d.agent_id, d.tags, d.regulatory_scope, d.owner_team, d.status, d.type"
        f"{scores} FROM {source} WHERE {where})"
        f" SELECT ARRAY(SELECT agent_id FROM m ORDER BY {order} LIMIT {limit} OFFSET {offset})"
        f" AS ids, (SELECT count(*) FROM m) AS total, {_FACETS}"
    )


def _facets(raw: str | dict[str, Any]) -> Facets:
    """Every facet field present (empty when nothing matches); values with a zero count absent."""
    data = json.loads(raw) if isinstance(raw, str) else raw
    return {f: {str(k): int(v) for k, v in (data.get(f) or {}).items()} for f in FACET_FIELDS}
