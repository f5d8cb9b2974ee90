"""Search index on Meilisearch, for deployments that run one (fed from the outbox like Postgres).

Writes and index setup use the (synchronous) SDK in a worker thread and wait for their
Meilisearch task, so a document is searchable when upsert returns, as with the Postgres adapter.
Searches, the hot path, go over one keep-alive aiohttp session instead: the SDK opens a new
connection per request (`requests.post`) and each call costs a thread hop."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import meilisearch
from meilisearch.models.task import TaskInfo

from registry.catalog.models import Facets, SearchQuery
from registry.search.port import FACET_FIELDS, SearchDocument, SearchHits
from registry.search.text import query_words

MAX_TOTAL_HITS = 1_000_000  # >= SearchQuery's last page x largest page, so totals stay exact
MAX_FACET_VALUES = 10_000  # Meilisearch's default (100) would truncate facet counts

# PostgreSQL's `english` stop list (tsearch_data/english.stop): ignoring the same words keeps
# "the calculator" meaning "calculator" on both adapters under matchingStrategy "all".
ENGLISH_STOP_WORDS = (
    "i me my myself we our ours ourselves you your yours yourself yourselves he him his himself"
    " she her hers herself it its itself they them their theirs themselves what which who whom"
    " this that these those am is are was were be been being have has had having do does did"
    " doing a an the and but if or because as until while of at by for with about against"
    " between into through during before after above below to from up down in out on off over"
    " under again further then once here there when where why how all any both each few more"
    " most other some such no nor not only own same so than too very s t can will just don"
    " should now"
).split()

SETTINGS: dict[str, Any] = {
    # Order matters: the `attribute` ranking rule ranks id/name matches above description.
    "searchableAttributes": ["agent_id", "name", "tags", "regulatory_scope", "description"],
    "filterableAttributes": list(FACET_FIELDS),
    "sortableAttributes": ["agent_id"],
    # Same tolerance as the Postgres adapter: one typo from 4 characters, never two.
    "typoTolerance": {"enabled": True, "minWordSizeForTypos": {"oneTypo": 4, "twoTypos": 255}},
    "faceting": {"maxValuesPerFacet": MAX_FACET_VALUES},
    "pagination": {"maxTotalHits": MAX_TOTAL_HITS},
    "stopWords": ENGLISH_STOP_WORDS,
}


class MeiliTaskError(RuntimeError):
    """A Meilisearch task ended without succeeding."""


class MeiliSearchError(RuntimeError):
    """Meilisearch answered a search with an error status."""


def quote(value: str) -> str:
    """A filter string literal: backslash and double quote escaped (Meilisearch >= 1.4)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def filters(query: SearchQuery) -> list[str]:
    """Filter expressions, AND-ed by Meilisearch as a list; one per required array value."""
    out = [f"tags = {quote(t)}" for t in query.tags]
    out += [f"regulatory_scope = {quote(s)}" for s in query.regulatory_scope]
    if query.owner_team is not None:
        out.append(f"owner_team = {quote(query.owner_team)}")
    if query.status is not None:
        out.append(f"status = {quote(query.status.value)}")
    if query.type is not None:
        out.append(f"type = {quote(query.type)}")
    return out


def search_params(query: SearchQuery) -> dict[str, Any]:
    """Page-number pagination, because only it reports an exact totalHits."""
    params: dict[str, Any] = {
        "facets": list(FACET_FIELDS),
        "page": query.page,
        "hitsPerPage": query.page_size,
        "sort": ["agent_id:asc"],
        "attributesToRetrieve": ["agent_id"],
        "matchingStrategy": "all",  # every query word must match, as in Postgres
    }
    if expressions := filters(query):
        params["filter"] = expressions
    return params


def facets_from(distribution: dict[str, Any] | None) -> Facets:
    """Every facet field present (empty when nothing matches); zero counts absent."""
    dist = distribution or {}
    return {
        f: {str(k): int(v) for k, v in (dist.get(f) or {}).items() if int(v) > 0}
        for f in FACET_FIELDS
    }


class MeiliSearchIndex:
    """SearchIndex on one Meilisearch index, created and configured on first use."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        index_name: str = "agents",
        *,
        task_timeout_ms: int = 60_000,
    ) -> None:
        # A bounded HTTP timeout: a hung server must not pin a worker thread forever.
        self._client = meilisearch.Client(url, api_key, timeout=30)
        self._search_url = f"{url.rstrip('/')}/indexes/{index_name}/search"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._name = index_name
        self._index = self._client.index(index_name)
        self._timeout_ms = task_timeout_ms
        self._configured = False
        self._lock = asyncio.Lock()

    async def upsert(self, docs: Sequence[SearchDocument]) -> None:
        """Add-or-replace whole documents (a later duplicate id in one call wins)."""
        latest = {d.agent_id: dataclasses.asdict(d) for d in docs}
        if latest:
            await self._write(lambda: self._index.add_documents(list(latest.values()), "agent_id"))

    async def delete(self, agent_ids: Sequence[str]) -> None:
        ids: list[str | int] = list(agent_ids)
        if ids:
            await self._write(lambda: self._index.delete_documents(ids))

    async def clear(self) -> None:
        await self._write(self._index.delete_all_documents)

    async def close(self) -> None:
        """The search session's connections (the SDK keeps none)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def search(self, query: SearchQuery) -> SearchHits:
        await self._ensure_configured()
        text = " ".join(query_words(query.query))  # same words as Postgres; no Meili syntax
        body = {"q": text, **search_params(query)}
        async with self._search_session().post(
            self._search_url, json=body, headers=self._headers
        ) as resp:
            if resp.status != 200:
                detail = (await resp.text())[:500]
                raise MeiliSearchError(f"meilisearch search answered {resp.status}: {detail}")
            res = await resp.json()
        return SearchHits(
            agent_ids=[h["agent_id"] for h in res.get("hits", [])],
            total=int(res.get("totalHits", 0)),
            facets=facets_from(res.get("facetDistribution")),
        )

    def _search_session(self) -> aiohttp.ClientSession:
        """One keep-alive session per event loop (a session is bound to the loop it began on)."""
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or session.closed or self._session_loop is not loop:
            timeout = aiohttp.ClientTimeout(total=30)  # a hung server must not hang a request
            session = aiohttp.ClientSession(timeout=timeout, raise_for_status=False)
            self._session, self._session_loop = session, loop
        return session

    async def _write(self, call: Callable[[], TaskInfo]) -> None:
        await self._ensure_configured()
        await asyncio.to_thread(lambda: self._wait(call()))

    async def _ensure_configured(self) -> None:
        """Create and configure the index once per adapter, before the first read or write."""
        if self._configured:
            return
        async with self._lock:
            if not self._configured:
                await asyncio.to_thread(self._configure)
                self._configured = True

    def _configure(self) -> None:
        self._wait(
            self._client.create_index(self._name, {"primaryKey": "agent_id"}),
            tolerate="index_already_exists",
        )
        self._wait(self._index.update_settings(dict(SETTINGS)))

    def _wait(self, info: TaskInfo, tolerate: str | None = None) -> None:
        """Block until the task is done; raise unless it succeeded (or failed as tolerated)."""
        task = self._client.wait_for_task(info.task_uid, timeout_in_ms=self._timeout_ms)
        if task.status == "succeeded":
            return
        error: dict[str, Any] = task.error or {}
        if tolerate is not None and error.get("code") == tolerate:
            return
        raise MeiliTaskError(f"meilisearch task {task.uid} {task.status}: {error.get('message')}")
