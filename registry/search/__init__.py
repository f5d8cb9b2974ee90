"""Search index adapters (Postgres full-text, Meilisearch) and the factory that picks one."""

from __future__ import annotations

from urllib.parse import urlparse

import asyncpg

from registry.search.meili import MeiliSearchIndex
from registry.search.port import SearchIndex
from registry.search.postgres import PostgresSearchIndex

__all__ = ["MeiliSearchIndex", "PostgresSearchIndex", "search_index_from_url"]


def search_index_from_url(url: str, pool: asyncpg.Pool, api_key: str | None) -> SearchIndex:
    """`postgres` -> the registry database's own full-text index; http(s)://... -> Meilisearch."""
    if url == "postgres":
        return PostgresSearchIndex(pool)
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return MeiliSearchIndex(url, api_key)
    raise ValueError(
        f"unsupported search index URL {url!r}: use 'postgres' or an http(s):// Meilisearch URL"
    )
