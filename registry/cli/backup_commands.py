"""`greenlang-registry backup` and `restore` (docs/operations.md, "Backups")."""

from __future__ import annotations

from pathlib import Path

from kernel.cli import CliError
from registry.artifacts import artifact_store_from_url
from registry.audit.chain import verify_chain
from registry.backup.archive import BackupError
from registry.backup.restore import load_backup, restore_artifacts, restore_database
from registry.backup.take import take_backup
from registry.config import RegistryConfig
from registry.runtime import open_database
from registry.store.embedded import start_embedded_postgres
from registry.store.postgres import PgMetadataStore


async def backup(config: RegistryConfig, output: Path) -> int:
    db = await open_database(config, max_size=4)
    artifacts = artifact_store_from_url(config.artifact_url)
    try:
        manifest = await take_backup(db.url, db.pool, artifacts, output)
    except BackupError as exc:
        raise CliError(str(exc), 2) from None
    finally:
        await artifacts.close()
        await db.pool.close()
    chain = "intact" if manifest.audit_chain_ok else "BROKEN (backed up as it is)"
    print(
        f"backed up to {output}: database, {len(manifest.artifacts)} artifacts,"
        f" audit chain of {manifest.audit_events} events {chain}"
    )
    return 0 if manifest.audit_chain_ok else 1


async def restore(config: RegistryConfig, source: Path) -> int:
    try:
        manifest = load_backup(source)
        embedded = None
        url = config.database_url
        if url is None:  # the handle keeps the server up until we return
            url, embedded = start_embedded_postgres(config.data_dir)
        await restore_database(url, source)
    except BackupError as exc:
        raise CliError(str(exc), 2) from None
    db = await open_database(config, max_size=4)  # applies this version's newer migrations
    artifacts = artifact_store_from_url(config.artifact_url)
    try:
        count = await restore_artifacts(db.pool, artifacts, source, manifest)
        report = await verify_chain(PgMetadataStore(db.pool).audit)
    finally:
        await artifacts.close()
        await db.pool.close()
    del embedded
    same = report.checked == manifest.audit_events
    state = "intact" if report.ok and same else f"NOT as backed up ({report.problem or 'count'})"
    print(
        f"restored {source}: database, {count} artifacts,"
        f" audit chain of {report.checked} events {state}"
    )
    return 0 if report.ok and same else 1
