"""Opens everything a registry process needs (database, migrations, artifact store, search index)
from a config, and closes it in reverse order."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import asyncpg

from registry.artifacts import artifact_store_from_url
from registry.catalog.service import RegistryService
from registry.config import RegistryConfig
from registry.search import search_index_from_url
from registry.search.port import SearchIndex
from registry.store.availability import connect
from registry.store.embedded import start_embedded_postgres
from registry.store.migrate import migrate


@dataclass
class Database:
    pool: asyncpg.Pool
    url: str
    embedded: Any = None  # the embedded server's handle; it stops at process exit


async def open_database(config: RegistryConfig, max_size: int = 20) -> Database:
    """Connect (starting the embedded server when no URL is configured) and migrate."""
    embedded = None
    url = config.database_url
    if url is None:
        url, embedded = start_embedded_postgres(config.data_dir)
    pool = await asyncpg.create_pool(url, min_size=2, max_size=max_size, connect=connect)
    await migrate(pool)
    return Database(pool=pool, url=url, embedded=embedded)


async def open_service(
    config: RegistryConfig, stack: AsyncExitStack
) -> tuple[RegistryService, Database]:
    db = await open_database(config)
    stack.push_async_callback(db.pool.close)
    artifacts = artifact_store_from_url(config.artifact_url)
    stack.push_async_callback(artifacts.close)
    index: SearchIndex = search_index_from_url(config.search_url, db.pool, config.meili_key)
    stack.push_async_callback(index.close)
    service = RegistryService(db.pool, artifacts, index, entry_cache_ttl=config.read_cache_ttl)
    return service, db
