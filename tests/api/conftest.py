"""A real registry API (aiohttp on loopback) over a fresh PostgreSQL database and a temp
artifact directory, with one token per role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from registry.api.app import create_app
from registry.api.context import ApiSettings
from registry.artifacts.filesystem import FilesystemArtifactStore
from registry.artifacts.port import ArtifactStore
from registry.auth.models import Role
from registry.auth.tokens import create_token
from registry.catalog.service import RegistryService
from registry.search.postgres import PostgresSearchIndex

MAX_ARTIFACT = 1024 * 1024


@dataclass
class Api:
    client: TestClient
    service: RegistryService
    pool: asyncpg.Pool
    artifact_dir: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def call(self, method: str, path: str, who: str = "admin", **kw: Any) -> Any:
        headers = {**self.auth(who), **kw.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kw)

    async def register(self, spec: dict[str, Any], who: str = "admin", **kw: Any) -> Any:
        return await self.call("POST", "/api/v1/agents", who, json={"spec": spec, **kw})

    async def counts(self) -> dict[str, int]:
        """Row counts of every table a mutation may write, to prove nothing was written."""
        tables = ["agents", "agent_versions", "certificates", "audit_events", "search_documents"]
        counts = {t: await self.pool.fetchval(f"SELECT count(*) FROM {t}") for t in tables}
        counts["artifact_files"] = sum(1 for p in self.artifact_dir.rglob("*") if p.is_file())
        return counts


def make_spec(
    agent_id: str = "gl-cbam-calculator", version: str = "1.0.0", **over: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "agent_id": agent_id,
        "name": "CBAM Calculator",
        "version": version,
        "description": "Calculates embedded emissions of CBAM goods from activity data.",
        "type": "calculator",
        "metadata": {
            "team": "cbam-team",
            "regulatory_scope": ["CBAM"],
            "tags": ["cbam", "embedded-emissions"],
            "changelog": f"release {version}",
        },
    }
    meta = over.pop("metadata", None)
    spec.update(over)
    if meta:
        spec["metadata"] = {**spec["metadata"], **meta}
    return spec


ROLES = {
    "admin": (Role.ADMIN, None),
    "publisher": (Role.PUBLISHER, "cbam-team"),
    "other_publisher": (Role.PUBLISHER, "csrd-team"),
    "approver": (Role.APPROVER, None),
    "viewer": (Role.VIEWER, None),
    "service": (Role.SERVICE, None),
}


async def start_api(
    pool: asyncpg.Pool,
    artifacts: ArtifactStore,
    tmp_path: Path,
    settings: ApiSettings | None = None,
) -> Api:
    # Long-lived read caches: every test then also checks that writes invalidate them.
    service = RegistryService(pool, artifacts, PostgresSearchIndex(pool), entry_cache_ttl=600)
    app = create_app(service, settings or ApiSettings(tmp_path / "spool", MAX_ARTIFACT))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    api = Api(client, service, pool, tmp_path / "artifacts")
    for name, (role, team) in ROLES.items():
        _, api.tokens[name] = await create_token(service.store, role, team, name)
    return api


async def start_api_with(pool: asyncpg.Pool, tmp_path: Path, settings: ApiSettings) -> Api:
    """A registry API on the filesystem artifact store with non-default settings."""
    artifacts = FilesystemArtifactStore(tmp_path / "artifacts")
    return await start_api(pool, artifacts, tmp_path, settings)


@pytest.fixture
async def api(pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Api]:
    api = await start_api(pool, FilesystemArtifactStore(tmp_path / "artifacts"), tmp_path)
    yield api
    await api.client.close()
