"""`greenlang-registry backup` and `restore` as an operator runs them: a registry with agents,
artifacts and an audit trail is backed up while it serves, restored into an empty data dir
(embedded PostgreSQL), and the restored registry passes `audit verify` and serves every artifact
byte for byte. A damaged backup or a registry in use is refused and changes nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.api.conftest import make_spec
from tests.e2e.stack import RegistryProcess, python_env, registry_cli


class EmbeddedRegistry(RegistryProcess):
    """`serve` on embedded defaults: its own PostgreSQL in the data dir, which lives outside
    pytest's private tmp (the embedded server runs as another user, see tests/conftest.py)."""

    def __init__(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="gl-restore-"))
        super().__init__(self.data_dir / "run", "")

    def environment(self) -> dict[str, str]:
        return python_env(GREENLANG_DATA_DIR=str(self.data_dir / "data"))

    def remove(self) -> None:
        registry_cli(self.environment(), "token", "list")  # joins and, on exit, stops its server
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture
def target() -> Iterator[EmbeddedRegistry]:
    registry = EmbeddedRegistry()
    yield registry
    registry.close()
    registry.remove()


def _populate(registry: RegistryProcess) -> dict[str, bytes]:
    token = registry.token("admin")
    blobs = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{registry.port}", timeout=30) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        for i in range(3):
            agent_id, blob = f"gl-backup-{i}", f"artifact {i} ".encode() * (1000 + i)
            files = {
                "spec": (None, yaml.safe_dump(make_spec(agent_id=agent_id))),
                "artifact": ("agent.tar.gz", blob),
            }
            assert client.post("/api/v1/agents", files=files).status_code == 201
            blobs[agent_id] = blob
    return blobs


@pytest.fixture
def backed_up(database_url: str, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A registry with three agents and their artifacts, backed up while it serves."""
    source = RegistryProcess(tmp_path / "source", database_url).start()
    try:
        blobs = _populate(source)
        backup = tmp_path / "backup"
        done = registry_cli(source.environment(), "backup", "--output", str(backup))
        assert done.returncode == 0, done.stderr
        assert "3 artifacts" in done.stdout and "intact" in done.stdout
    finally:
        source.close()
    return backup, blobs


def test_backup_then_restore_into_an_empty_data_dir(
    backed_up: tuple[Path, dict[str, bytes]], target: EmbeddedRegistry
) -> None:
    backup, blobs = backed_up
    manifest = json.loads((backup / "manifest.json").read_text())
    assert set(manifest["artifacts"]) == {hashlib.sha256(b).hexdigest() for b in blobs.values()}

    env = target.environment()
    done = registry_cli(env, "restore", str(backup))
    assert done.returncode == 0, done.stderr
    again = registry_cli(env, "restore", str(backup))  # a registry in use is refused
    assert again.returncode == 2 and "not empty" in again.stderr
    verify = registry_cli(env, "audit", "verify")
    assert verify.returncode == 0, verify.stdout
    assert f"{manifest['audit_events']} events verified" in verify.stdout

    with target.start():
        token = target.token("viewer")
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{target.port}/api/v1/agents"
        for agent_id, blob in blobs.items():
            r = httpx.get(f"{base}/{agent_id}/versions/1.0.0/artifact", headers=headers)
            assert r.status_code == 200 and r.content == blob


def test_a_damaged_backup_is_refused_before_anything_changes(
    backed_up: tuple[Path, dict[str, bytes]], target: EmbeddedRegistry
) -> None:
    backup, blobs = backed_up
    victim = backup / "artifacts" / hashlib.sha256(next(iter(blobs.values()))).hexdigest()
    victim.write_bytes(b"forged" + victim.read_bytes()[6:])
    done = registry_cli(target.environment(), "restore", str(backup))
    assert done.returncode == 2 and "altered" in done.stderr, done.stderr
    assert not (target.data_dir / "data").exists()  # nothing started, nothing written
