"""Agent entries in memory (registry/catalog/entry_cache.py): other writers' changes arrive as
PostgreSQL notifications, certificate expiry bounds every entry, a lost listening connection
falls back to the TTL and comes back, and preloading serves a catalog without queries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from registry.catalog.models import SearchQuery
from registry.catalog.service import RegistryService
from registry.search.postgres import PostgresSearchIndex
from tests.api.conftest import Api, make_spec
from tests.api.test_lifecycle_api import certify, patch

AGENT = "gl-cbam-calculator"


async def eventually(check: Callable[[], object], limit: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.fixture
async def other(api: Api) -> AsyncIterator[RegistryService]:
    """A second registry process on the same database, its reads cached for 600 s."""
    service = RegistryService(
        api.pool, api.service.artifacts, PostgresSearchIndex(api.pool), entry_cache_ttl=600
    )
    yield service
    await service.close()


async def test_another_registrys_write_arrives_as_a_notification(
    api: Api, other: RegistryService
) -> None:
    await api.register(make_spec())
    await other.start()
    assert other.entries.listening
    assert (await other.get_agent(AGENT)).status.value == "draft"
    await certify(api)
    assert (await patch(api, "1.0.0", "active")).status == 200  # written by `api`, not `other`
    await eventually(lambda: other.entries.cached(AGENT) is None)
    assert (await other.get_agent(AGENT)).status.value == "active"


async def test_without_listening_other_writes_wait_for_the_ttl(
    api: Api, other: RegistryService
) -> None:
    await api.register(make_spec())
    assert (await other.get_agent(AGENT)).status.value == "draft"  # not started: no listener
    await certify(api)
    assert (await patch(api, "1.0.0", "active")).status == 200
    await asyncio.sleep(0.2)
    assert (await other.get_agent(AGENT)).status.value == "draft"  # cached for its 600 s


async def test_a_write_by_any_sql_client_is_heard(api: Api, other: RegistryService) -> None:
    await api.register(make_spec())
    await other.start()
    await other.get_agent(AGENT)
    await api.pool.execute("UPDATE agents SET name = 'Renamed' WHERE agent_id = $1", AGENT)
    await eventually(lambda: other.entries.cached(AGENT) is None)
    assert (await other.get_agent(AGENT)).name == "Renamed"


async def test_no_entry_outlives_its_certificate(api: Api, other: RegistryService) -> None:
    await api.register(make_spec())
    expires = datetime.now(UTC) + timedelta(seconds=1.5)
    await certify(api, expires=expires.isoformat())
    await other.start()
    assert (await other.get_agent(AGENT)).versions[0].certified
    await asyncio.sleep(1.7)  # no write happens: only time changes `certified`
    assert not (await other.get_agent(AGENT)).versions[0].certified


async def test_a_lost_listener_clears_the_cache_and_comes_back(
    api: Api, other: RegistryService
) -> None:
    await api.register(make_spec())
    await other.start()
    await other.get_agent(AGENT)
    assert other.entries.cached(AGENT) is not None
    await api.pool.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
    )
    await eventually(lambda: other.entries.cached(AGENT) is None)
    await eventually(lambda: other.entries.listening)
    await other.get_agent(AGENT)
    await api.pool.execute("UPDATE agents SET name = 'Again' WHERE agent_id = $1", AGENT)
    await eventually(lambda: other.entries.cached(AGENT) is None)  # listening again


async def test_preload_serves_the_catalog_from_memory(api: Api, other: RegistryService) -> None:
    ids = [f"gl-agent-{i:02d}" for i in range(12)]
    for agent_id in ids:
        assert (await api.register(make_spec(agent_id))).status == 201
    await other.start(preload=10)
    cached = [a for a in ids if other.entries.cached(a) is not None]
    assert len(cached) == 10  # the limit, most recently changed first
    assert set(ids[-10:]) == set(cached)


async def test_search_pages_come_from_the_entry_cache(api: Api, other: RegistryService) -> None:
    ids = ["gl-a-agent", AGENT, "gl-z-agent"]
    for agent_id in ids:
        assert (await api.register(make_spec(agent_id))).status == 201
    await other.start()
    first = await other.search(SearchQuery(query="cbam"))
    assert [e.agent_id for e in first.agents] == [AGENT, "gl-a-agent", "gl-z-agent"]  # id match
    assert all(other.entries.cached(a) is not None for a in ids)  # kept, for gets too
    await certify(api)
    assert (await patch(api, "1.0.0", "active")).status == 200
    await eventually(lambda: other.entries.cached(AGENT) is None)  # heard and dropped
    other._searches.clear()  # the 2 s result cache is not what this test is about
    again = await other.search(SearchQuery(query="cbam"))
    assert [e.status.value for e in again.agents] == ["active", "draft", "draft"]
