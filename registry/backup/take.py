"""`greenlang-registry backup`: the database snapshot, every referenced artifact (checked against
its sha256 while copied) and a manifest, into an empty directory.

A CLI command with the event loop to itself, so plain blocking file calls are fine here."""

# ruff: noqa: ASYNC240

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from registry.artifacts.port import ArtifactStore
from registry.audit.chain import verify_chain
from registry.backup import pg_tools
from registry.backup.archive import ARTIFACTS, DUMP, BackupError, Manifest, file_sha256
from registry.store.postgres import PgMetadataStore

REFERENCED = (
    "SELECT DISTINCT ON (artifact_sha256) artifact_sha256, artifact_uri, artifact_size"
    " FROM agent_versions WHERE artifact_uri IS NOT NULL ORDER BY artifact_sha256"
)


async def _copy_artifacts(
    pool: asyncpg.Pool, artifacts: ArtifactStore, target: Path
) -> dict[str, int]:
    """Artifacts are immutable and content-addressed, so listing them after the dump gives a
    superset of what the dump references."""
    copied: dict[str, int] = {}
    target.mkdir()
    for row in await pool.fetch(REFERENCED):
        sha256, partial = row["artifact_sha256"], target / f".{row['artifact_sha256']}.part"
        with partial.open("wb") as out:
            async for chunk in artifacts.open(row["artifact_uri"], sha256):  # checks the hash
                out.write(chunk)
        partial.rename(target / sha256)
        copied[sha256] = (target / sha256).stat().st_size
    return copied


async def take_backup(
    url: str, pool: asyncpg.Pool, artifacts: ArtifactStore, output: Path
) -> Manifest:
    if output.exists() and any(output.iterdir()):
        raise BackupError(f"{output}: not empty; back up into a new directory")
    output.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    pg_tools.dump(url, output / DUMP)
    copied = await _copy_artifacts(pool, artifacts, output / ARTIFACTS)
    report = await verify_chain(PgMetadataStore(pool).audit)
    head = await pool.fetchrow("SELECT hash, seq FROM audit_events ORDER BY seq DESC LIMIT 1")
    manifest = Manifest(
        created_at=started.isoformat(),
        schema_version=await pool.fetchval("SELECT max(version) FROM schema_migrations"),
        database_sha256=file_sha256(output / DUMP),
        audit_events=report.checked,
        audit_head=head["hash"] if head else "",
        audit_chain_ok=report.ok,
        artifacts=copied,
    )
    manifest.write(output)
    return manifest
