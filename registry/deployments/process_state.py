"""What the ``process`` deployer keeps on disk, so that a new deployer object over the same
state dir (a restarted controller) finds the instances its predecessor started.

    <state dir>/<deployment_id>/deployment.json       the desired state it was last applied with
    <state dir>/<deployment_id>/artifact/<file>        the deployment's own copy of the artifact
    <state dir>/<deployment_id>/<name>/instance.json   ports, processes, restarts of one replica
    <state dir>/<deployment_id>/<name>/agent.log, sidecar.log, spool/
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from registry.deployments.processes import ProcessRecord

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
ROLES = ("agent", "sidecar")


@dataclass(frozen=True)
class Desired:
    """The part of a DeploymentSpec that ``observe`` needs without the spec."""

    replicas: int
    health_path: str
    fingerprint: str  # of everything that starts an instance; a change replaces the instances


@dataclass
class InstanceRecord:
    name: str
    index: int
    fingerprint: str
    ports: dict[str, int]  # agent, listen, admin
    processes: dict[str, ProcessRecord | None] = field(default_factory=dict)  # by role
    exited: dict[str, str] = field(default_factory=dict)  # role -> how it ended, until restarted
    restarts: int = 0
    failures: int = 0  # in a row, for the backoff; reset once the instance has run stably
    retry_at: float = 0.0
    failed: str = ""  # set when restarting cannot help; the instance is left alone

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> InstanceRecord:
        procs = {r: ProcessRecord(**p) if p else None for r, p in doc.pop("processes").items()}
        return cls(processes=procs, **doc)


class DeploymentDir:
    """One deployment's directory; every write is atomic (temp file, then rename)."""

    def __init__(self, state_dir: Path, deployment_id: str) -> None:
        if not SAFE_ID.match(deployment_id):
            raise ValueError(f"deployment id {deployment_id!r} must match {SAFE_ID.pattern}")
        self.path = state_dir / deployment_id
        self.deployment_id = deployment_id

    def exists(self) -> bool:
        return self.path.is_dir()

    def desired(self) -> Desired | None:
        doc = _read(self.path / "deployment.json")
        return Desired(**doc) if doc else None

    def save_desired(self, desired: Desired) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        _write(self.path / "deployment.json", asdict(desired))

    def install_artifact(self, source: Path, sha256: str) -> Path:
        """Copy the artifact in once per content, so restarts never depend on the caller's file."""
        target = self.path / "artifact" / sha256[:16] / source.name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        return target

    def instance_dir(self, name: str) -> Path:
        return self.path / name

    def instances(self) -> dict[int, InstanceRecord]:
        found = {}
        for file in sorted(self.path.glob("*/instance.json")):
            doc = _read(file)
            if doc:
                rec = InstanceRecord.from_json(doc)
                found[rec.index] = rec
        return found

    def save(self, rec: InstanceRecord) -> None:
        directory = self.instance_dir(rec.name)
        directory.mkdir(parents=True, exist_ok=True)
        _write(directory / "instance.json", asdict(rec))

    def delete_instance(self, rec: InstanceRecord) -> None:
        shutil.rmtree(self.instance_dir(rec.name), ignore_errors=True)

    def delete(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def deployment_ids(state_dir: Path) -> list[str]:
    """Deployments with instances (one scaled to zero runs nothing, so it is not listed)."""
    if not state_dir.is_dir():
        return []
    return sorted({p.parent.parent.name for p in state_dir.glob("*/*/instance.json")})


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _write(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmp, path)
