"""The registry on Meilisearch (GREENLANG_SEARCH_URL), as a user configures it: the outbox feeds
the index, writes go on while Meilisearch is down, and once it is back every update reaches it:
none is lost (issue 14, "Real adapters")."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.conftest import make_spec
from tests.e2e.stack import RegistryProcess
from tests.support.meili import MeiliServer, meili_binary
from tests.support.polling import wait_until


class MeiliRegistry(RegistryProcess):
    def __init__(self, workdir: Path, database_url: str, meili: MeiliServer) -> None:
        super().__init__(workdir, database_url)
        self.meili = meili

    def environment(self) -> dict[str, str]:
        env = super().environment()
        return env | {"GREENLANG_SEARCH_URL": self.meili.url, "GREENLANG_MEILI_KEY": self.meili.key}


async def test_no_update_is_lost_across_a_meilisearch_restart(
    database_url: str, tmp_path: Path
) -> None:
    binary = meili_binary()
    if binary is None:
        pytest.skip("no meilisearch binary (../shared/bin/meilisearch)")
    meili = MeiliServer(binary, tmp_path / "meili").start()  # our dir: kept across the restart
    registry = MeiliRegistry(tmp_path / "registry", database_url, meili).start()
    try:
        headers = {"Authorization": f"Bearer {registry.token('admin')}"}
        async with httpx.AsyncClient(base_url=registry.url, headers=headers, timeout=30) as client:

            async def register(n: int) -> None:
                body = {"spec": make_spec(agent_id=f"gl-meili-{n}")}
                r = await client.post("/api/v1/agents", json=body)
                assert r.status_code == 201, r.text

            async def indexed(count: int) -> bool:
                return meili.documents("agents") == count

            for n in range(3):
                await register(n)
            await wait_until(lambda: indexed(3), limit=60, what="3 agents in Meilisearch")
            meili.close()
            for n in range(3, 6):
                await register(n)  # the registry does not need its index to take writes
            meili.start()  # the same port, database and key
            await wait_until(lambda: indexed(6), limit=60, what="every update after the restart")

            async def searchable() -> bool:
                r = await client.get("/api/v1/agents/search", params={"query": "CBAM"})
                return r.status_code == 200 and r.json()["total"] == 6

            await wait_until(searchable, limit=30, what="the search API to find all six")
    finally:
        registry.close()
        meili.close()
    assert "unhandled error" not in registry.log()
