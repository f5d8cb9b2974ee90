"""PostgreSQL stopped and started again under a running registry: while it is gone every call is
answered 503 with Retry-After (never 500) and writes nothing; once it is back the registry serves
again without a restart of its own (issue 14, "Fault tests")."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry.store.embedded import start_embedded_postgres
from tests.api.conftest import make_spec
from tests.e2e.stack import RegistryProcess
from tests.support.polling import wait_until


class Postgres:
    """A PostgreSQL of this test alone, so stopping it disturbs no other test."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="gl-pg-outage-"))
        self.url, self.server = start_embedded_postgres(self.root, cleanup="delete")

    def stop(self) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    def start(self) -> None:
        self.server.ensure_postgres_running()  # same socket directory, so the same URL

    def close(self) -> None:
        self.server.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    pg = Postgres()
    yield pg
    pg.close()


async def _register(client: httpx.AsyncClient, agent_id: str) -> httpx.Response:
    body = {"spec": make_spec(agent_id=agent_id)}
    return await client.post("/api/v1/agents", json=body)


def _is_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["Retry-After"]) >= 1


async def test_registry_rides_out_a_database_restart(postgres: Postgres, tmp_path: Path) -> None:
    registry = RegistryProcess(tmp_path / "registry", postgres.url).start()
    try:
        token = registry.token("admin")
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{registry.port}"
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            assert (await _register(client, "gl-before-outage")).status_code == 201
            postgres.stop()
            _is_unavailable(await _register(client, "gl-during-outage"))
            _is_unavailable(await client.get("/api/v1/agents/search", params={"query": "outage"}))
            _is_unavailable(await client.get("/api/v1/audit"))
            fresh = {"Authorization": "Bearer gl_unknown_token_needs_the_database"}
            _is_unavailable(await client.get("/api/v1/agents", headers=fresh))
            postgres.start()

            async def registered() -> Any:
                r = await _register(client, "gl-after-outage")
                return r if r.status_code == 201 else None

            await wait_until(registered, limit=60, what="a write after the database is back")
            listed = (await client.get("/api/v1/agents")).json()["agents"]
            ids = {a["agent_id"] for a in listed}
            assert ids == {"gl-before-outage", "gl-after-outage"}  # nothing half-written
    finally:
        registry.close()
    assert "unhandled error" not in registry.log()  # no request ended in a 500
    assert "database unavailable" in registry.log()  # and the outage was logged
