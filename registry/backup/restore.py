"""`greenlang-registry restore`: a backup into an empty registry. Files are checked first, the
database comes back in one transaction, then every artifact goes into this registry's artifact
store (its URIs are rewritten: a new data dir or bucket stores them elsewhere)."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from registry.artifacts.port import ArtifactStore
from registry.backup import pg_tools
from registry.backup.archive import ARTIFACTS, DUMP, BackupError, Manifest, check_files


async def _refuse_if_in_use(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        # audit_events/agents may not exist yet: the statement is planned only if they do
        exists = await conn.fetchval("SELECT to_regclass('public.audit_events') IS NOT NULL")
        if exists and await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM audit_events) OR EXISTS (SELECT 1 FROM agents)"
        ):
            raise BackupError("the target registry is not empty; restore into a new one")
    finally:
        await conn.close()


def load_backup(source: Path) -> Manifest:
    """The manifest, once every file it names is there unaltered (before touching anything)."""
    manifest = Manifest.read(source)
    check_files(source, manifest)
    return manifest


async def restore_database(url: str, source: Path) -> None:
    """Refuse a registry in use; restore the database in one transaction."""
    await _refuse_if_in_use(url)
    pg_tools.restore(url, source / DUMP)


async def restore_artifacts(
    pool: asyncpg.Pool, artifacts: ArtifactStore, source: Path, manifest: Manifest
) -> int:
    """Store every artifact here and point the versions at the new location."""
    for sha256, size in manifest.artifacts.items():
        stored = await artifacts.put_file(source / ARTIFACTS / sha256, sha256, size)
        await pool.execute(
            "UPDATE agent_versions SET artifact_uri = $1 WHERE artifact_sha256 = $2",
            stored.uri,
            sha256,
        )
    return len(manifest.artifacts)
