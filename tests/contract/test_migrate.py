import asyncio

import asyncpg

from registry.store.migrate import available_migrations, migrate


async def test_concurrent_migrations_apply_once(database_url: str) -> None:
    # The template is already migrated: two more racing runs must apply nothing and not fail.
    pools = [await asyncpg.create_pool(database_url, min_size=1, max_size=1) for _ in range(2)]
    try:
        results = await asyncio.gather(*(migrate(p) for p in pools))
        assert results == [[], []]
        count = await pools[0].fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(available_migrations())
    finally:
        for p in pools:
            await p.close()


async def test_fresh_database_migrates_once_under_race(pg_server: str) -> None:
    conn = await asyncpg.connect(pg_server)
    await conn.execute("CREATE DATABASE race_migrate")
    await conn.close()
    url = pg_server.replace("/postgres?", "/race_migrate?")
    pools = [await asyncpg.create_pool(url, min_size=1, max_size=1) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(p) for p in pools))
        assert sorted(len(r) for r in results) == [0, 0, len(available_migrations())]
        assert await pools[0].fetchval("SELECT count(*) FROM agents") == 0
    finally:
        for p in pools:
            await p.close()
        conn = await asyncpg.connect(pg_server)
        await conn.execute("DROP DATABASE race_migrate WITH (FORCE)")
        await conn.close()
