"""The search-index port. Its contract suite (tests/contract/test_search_index.py) runs against
every adapter that can start here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from registry.catalog.models import Facets, SearchQuery


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
