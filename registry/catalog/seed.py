"""Loads example agents into a registry: every `agent*.yaml` under a directory, with the
`artifact.*` file beside it; agents listed in `certified.txt` get a one-year certificate and are
activated. Safe to run again: what is already there is left alone."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from registry.auth.models import Role
from registry.auth.principal import Context, Principal
from registry.catalog.models import AgentStatus, CertificateRequest, StatusChange
from registry.catalog.service import RegistryService, UploadedFile
from registry.catalog.spec import AgentSpec, parse_spec
from registry.errors import Conflict
from registry.store.agents import semver_key

SEED = Context(Principal("seed", "seed", Role.ADMIN, None), request_id="seed")


def _upload(path: Path) -> UploadedFile:
    data = path.read_bytes()
    return UploadedFile(path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


async def seed_directory(service: RegistryService, root: Path) -> dict[str, int]:
    counts = {"registered": 0, "skipped": 0, "activated": 0}
    certified, specs = await asyncio.to_thread(_read_examples, root)
    for spec, upload in specs:
        try:
            await service.register(SEED, spec, upload)
            counts["registered"] += 1
        except Conflict:
            counts["skipped"] += 1
            continue
        if spec.agent_id in certified and await _activate(service, spec.agent_id, spec.version):
            counts["activated"] += 1
    return counts


def _read_examples(root: Path) -> tuple[set[str], list[tuple[AgentSpec, UploadedFile | None]]]:
    specs = []
    for path in root.glob("*/agent*.yaml"):
        artifact = next(iter(sorted(path.parent.glob("artifact.*"))), None)
        specs.append((parse_spec(path.read_bytes()), _upload(artifact) if artifact else None))
    specs.sort(key=lambda sp: (sp[0].agent_id, semver_key(sp[0].version)))
    return _certified_ids(root / "certified.txt"), specs


def _certified_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    lines = (line.strip() for line in path.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("#")}


async def _activate(service: RegistryService, agent_id: str, version: str) -> bool:
    v = await service.get_version(agent_id, version)
    if v.status is not AgentStatus.DRAFT:
        return False
    expires = datetime.now(UTC) + timedelta(days=365)
    await service.issue_certificate(
        SEED,
        CertificateRequest(agent_id=agent_id, version=version, expires_at=expires, issuer="seed"),
    )
    await service.change_status(
        SEED, agent_id, version, StatusChange(status=AgentStatus.ACTIVE, reason="example seed")
    )
    return True
