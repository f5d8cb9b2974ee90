"""The backup directory: what is in it and how each part is checked.

    DIR/manifest.json        what was backed up, with a sha256 of every file
    DIR/database.dump        pg_dump --format=custom: one consistent snapshot of the database
    DIR/artifacts/<sha256>   every artifact a version references, named by its content hash

The audit chain is in the database; the manifest records how many events it had, its head hash
and whether it verified when the backup was taken, so a restore can show it is the same chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = 1
DUMP = "database.dump"
ARTIFACTS = "artifacts"
MANIFEST = "manifest.json"
CHUNK = 1024 * 1024


class BackupError(Exception):
    """The backup directory is incomplete, altered or not a backup; the message says which."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Manifest:
    created_at: str
    schema_version: int
    database_sha256: str
    audit_events: int
    audit_head: str
    audit_chain_ok: bool
    artifacts: dict[str, int] = field(default_factory=dict)  # sha256 -> size
    format: int = FORMAT

    def write(self, directory: Path) -> None:
        text = json.dumps(asdict(self), indent=2, sort_keys=True)
        (directory / MANIFEST).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        try:
            doc: Any = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
            manifest = cls(**doc)
        except (OSError, ValueError, TypeError) as exc:
            raise BackupError(f"{directory}: not a registry backup ({exc})") from None
        if manifest.format != FORMAT:
            raise BackupError(f"{directory}: backup format {manifest.format}, expected {FORMAT}")
        return manifest


def check_files(directory: Path, manifest: Manifest) -> None:
    """Every file the manifest names is there with its recorded sha256 (before touching any
    database: a damaged backup must change nothing)."""
    dump = directory / DUMP
    if not dump.is_file() or file_sha256(dump) != manifest.database_sha256:
        raise BackupError(f"{dump}: missing or altered (sha256 differs from the manifest)")
    for sha256, size in manifest.artifacts.items():
        path = directory / ARTIFACTS / sha256
        if not path.is_file() or path.stat().st_size != size or file_sha256(path) != sha256:
            raise BackupError(f"{path}: missing or altered")
