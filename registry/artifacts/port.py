"""The artifact-store port. Its contract suite (tests/contract/test_artifact_store.py) runs
against every adapter that can start here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class ArtifactIntegrityError(Exception):
    """Stored bytes do not match the sha256 recorded for them."""


class ArtifactNotFound(Exception):
    pass


@dataclass(frozen=True)
class StoredArtifact:
    uri: str
    sha256: str
    size: int


class ArtifactStore(Protocol):
    """Content-addressed blob store: the same bytes always land at the same URI."""

    async def put_file(self, path: Path, sha256: str, size: int) -> StoredArtifact:
        """Store a local file whose sha256 the caller measured; re-checked while copying."""
        ...

    def open(self, uri: str, sha256: str) -> AsyncIterator[bytes]:
        """Stream the blob; raises ArtifactIntegrityError after the last chunk on a mismatch."""
        ...

    async def delete(self, uri: str) -> None: ...

    async def exists(self, uri: str) -> bool: ...

    async def close(self) -> None: ...
