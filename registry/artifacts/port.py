"""Ports: the small interfaces external systems sit behind. Each has a contract test suite
(tests/contract/) that runs against every adapter that can start here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from registry.catalog.models import Facets, SearchQuery


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


@dataclass(frozen=True)
class SearchDocument:
    """What the search index knows of an agent (its current version's card)."""

    agent_id: str
    name: str
    description: str
    owner_team: str
    type: str
    status: str
    current_version: str
    tags: list[str] = field(default_factory=list)
    regulatory_scope: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SearchHits:
    """Ranked agent ids of one page, the exact total and facet counts over all matches."""

    agent_ids: list[str]
    total: int
    facets: Facets


FACET_FIELDS = ("tags", "regulatory_scope", "owner_team", "status", "type")


class SearchIndex(Protocol):
    async def upsert(self, docs: Sequence[SearchDocument]) -> None: ...

    async def delete(self, agent_ids: Sequence[str]) -> None: ...

    async def search(self, query: SearchQuery) -> SearchHits: ...

    async def clear(self) -> None: ...

    async def close(self) -> None: ...
