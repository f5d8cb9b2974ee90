"""Session-wide real PostgreSQL (embedded) and a fresh, migrated database per test."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from registry.store.embedded import start_embedded_postgres
from registry.store.migrate import migrate
from tests.support.docker_engine import cleanup_if_used
from tests.support.meili import MeiliTarget, session_meili
from tests.support.opensearch import OpenSearchNode
from tests.support.servers import MinioServer


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of a real PostgreSQL server (maintenance database `postgres`).

    Its files live in a private temp dir, not pytest's tmp_path: pytest prunes old basetemp dirs,
    which would pull the data out from under a server used by a concurrent test run."""
    root = Path(tempfile.mkdtemp(prefix="gl-pg-"))
    url, handle = start_embedded_postgres(root, cleanup="delete")
    yield url
    handle.cleanup()
    shutil.rmtree(root, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
async def template_db(pg_server: str) -> str:
    """A migrated template database; fresh test databases are cloned from it."""
    conn = await asyncpg.connect(pg_server)
    try:
        await conn.execute("CREATE DATABASE greenlang_template")
    finally:
        await conn.close()
    url = _with_database(pg_server, "greenlang_template")
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    await migrate(pool)
    await pool.close()
    return "greenlang_template"


@pytest.fixture
async def database_url(pg_server: str, template_db: str) -> AsyncIterator[str]:
    """A fresh migrated database for one test, dropped afterwards."""
    name = f"t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(pg_server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE {template_db}')
    finally:
        await conn.close()
    yield _with_database(pg_server, name)
    conn = await asyncpg.connect(pg_server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    yield p
    await p.close()


@pytest.fixture(scope="session")
def minio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    """A live MinIO: `.endpoint` (host:port), `.url`, `.access_key`, `.secret_key`."""
    with MinioServer(tmp_path_factory.mktemp("minio")) as server:
        yield server


@pytest.fixture(scope="session")
def opensearch() -> Iterator[OpenSearchNode]:
    """A live OpenSearch node (Elasticsearch's _bulk/_search API), shared by the session."""
    with OpenSearchNode() as node:
        yield node


@pytest.fixture(scope="session")
def meili() -> Iterator[MeiliTarget]:
    """A live Meilisearch (`.url`, `.key`) for this session; skipped only if none can exist."""
    yield from session_meili()


@pytest.fixture(scope="session", autouse=True)
def _docker_cleanup() -> Iterator[None]:
    """No container of this session outlives it (costs nothing when no test used Docker)."""
    yield
    cleanup_if_used()
