"""What only the PostgreSQL search adapter does: typo alternatives that a query word matches
anyway (the same lexeme) are left out of its tsquery, so the common plural/singular case stays
one plain match with no typo-free ranking test."""

from __future__ import annotations

import dataclasses

import asyncpg

from registry.search.postgres import PostgresSearchIndex, _tsqueries
from tests.contract.test_search_index import CORPUS


async def test_alternatives_with_the_same_lexeme_are_left_out(pool: asyncpg.Pool) -> None:
    singular = dataclasses.replace(CORPUS[0], agent_id="x", name="Emission")
    await PostgresSearchIndex(pool).upsert([*CORPUS, singular])
    async with pool.acquire() as conn:
        # 'emission' is one edit from 'emissions', but both are the lexeme 'emiss'
        assert await _tsqueries(conn, ["emissions"]) == ("emissions:*", "emissions:*")
        assert await _tsqueries(conn, ["emission", "steel"]) == (
            "emission & steel:*",
            "emission & steel:*",
        )
        # real typos keep their alternatives; the typo-free form ranks first
        assert await _tsqueries(conn, ["calculatr"]) == (
            "(calculatr:* | calculator)",
            "calculatr:*",
        )
        assert await _tsqueries(conn, ["rizk", "steel"]) == (
            "(rizk | risk) & (steel:*)",
            "rizk & steel:*",
        )
