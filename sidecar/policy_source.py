"""Where the sidecar's decisions come from: a bundle for the embedded engine, or a real OPA.

A source hands out the current `PolicyEngine` (None while it has none: the sidecar then fails
closed) and says whether it is ready. Three kinds:

- `FileBundleSource`: one bundle file, loaded at start.
- `PolledBundleSource`: a bundle URL (the registry's `/api/v1/bundles/greenlang` or any HTTP
  server), fetched with ``If-None-Match`` every ``interval_s``. A new revision replaces the
  engine only once it compiled (and verified, with a key); a bad or unreachable bundle keeps the
  last good one, so a registry outage never takes decisions away.
- `OpaSource`: decisions from a real OPA over HTTP; ready while OPA says its bundles are
  activated (``GET /health?bundles``). The agent's serving version, its deprecation notices and
  the policy types are read from OPA's data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import structlog

from bundles.bundle import BundleError, read_bundle_files
from bundles.engines import EngineError, PolicyEngine
from bundles.engines.embedded import EmbeddedEngine, bundle_contents
from bundles.engines.opa_http import OpaHttpEngine
from bundles.signing import KeyMaterial, SignatureError
from kernel.tasks import stop_task
from sidecar.deprecation import Notice, notices
from sidecar.token_budgets import TokenBudgets

log = structlog.get_logger("sidecar.policy")


@dataclass(frozen=True)
class BundleFacts:
    """What the sidecar reads from a bundle besides the policies it runs."""

    policy_types: Mapping[str, str] = field(default_factory=dict)  # policy_id -> type
    versions: Mapping[str, str] = field(default_factory=dict)  # agent_id -> serving version
    # (agent_id, version) -> its deprecation notice, read once per bundle (not per call)
    notices: Mapping[tuple[str, str], Notice] = field(default_factory=dict)
    token_budgets: TokenBudgets = field(default_factory=TokenBudgets)  # who may have one

    @classmethod
    def of(cls, archive: bytes) -> BundleFacts:
        try:
            _, data, _ = bundle_contents(read_bundle_files(archive))
        except (BundleError, EngineError):
            return cls()
        return cls.from_data(_object(data.get("greenlang")))

    @classmethod
    def from_data(cls, root: Mapping[str, Any]) -> BundleFacts:
        """The facts of `data.greenlang` (only the parts read here need to be present)."""
        meta = _object(root.get("policy_meta"))
        agents = _object(_object(root.get("catalog")).get("agents"))
        return cls(
            policy_types={
                m["policy_id"]: m["type"]
                for m in meta.values()
                if isinstance(m, dict) and isinstance(m.get("policy_id"), str)
            },
            versions={
                agent_id: version
                for agent_id, entry in agents.items()
                if isinstance(entry, dict)
                and isinstance(version := entry.get("current_version", entry.get("version")), str)
            },
            notices=notices(agents),
            token_budgets=TokenBudgets.from_data(meta, root.get("token_budgets")),
        )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class PolicySource(Protocol):
    """The current engine (or None) and the reason the sidecar is not ready (or None)."""

    @property
    def engine(self) -> PolicyEngine | None: ...

    @property
    def revision(self) -> str | None: ...

    @property
    def policy_types(self) -> Mapping[str, str]:
        """policy_id -> policy type, as far as the source knows them."""
        ...

    def agent_version(self, agent_id: str) -> str | None:
        """The version the catalog says serves (None when the source cannot tell)."""
        ...

    def notice(self, agent_id: str, version: str) -> Notice | None:
        """The version's deprecation notice in the catalog (None: not deprecated, or unknown)."""
        ...

    @property
    def token_budgets(self) -> TokenBudgets:
        """Who may have a token budget (nobody while the source cannot tell)."""
        ...

    async def not_ready_reason(self) -> str | None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class _FactsHolder:
    """The policy types, serving versions and notices a source last read (``_facts``)."""

    _facts: BundleFacts = BundleFacts()

    @property
    def policy_types(self) -> Mapping[str, str]:
        return self._facts.policy_types

    def agent_version(self, agent_id: str) -> str | None:
        return self._facts.versions.get(agent_id)

    def notice(self, agent_id: str, version: str) -> Notice | None:
        return self._facts.notices.get((agent_id, version))

    @property
    def token_budgets(self) -> TokenBudgets:
        return self._facts.token_budgets


class _BundleEngine(_FactsHolder):
    """The embedded engine of the newest good bundle, and why there is none yet."""

    def __init__(
        self, key: KeyMaterial | None, algorithm: str, not_loaded: str, where: str
    ) -> None:
        self._key = key
        self._algorithm = algorithm
        self._where = where
        self._engine: EmbeddedEngine | None = None
        self._error: str | None = not_loaded
        # bundles refused because their signature did not verify (a tampered or foreign
        # bundle); sidecar_bundle_verification_failures_total reads it
        self.verification_failures = 0

    @property
    def engine(self) -> PolicyEngine | None:
        return self._engine

    @property
    def revision(self) -> str | None:
        return self._engine.revision if self._engine else None

    async def not_ready_reason(self) -> str | None:
        return None if self._engine is not None else self._error

    def _load(self, archive: bytes) -> bool:
        """Install the bundle (verified when a key is set); True when its files are new.
        Raises EngineError and keeps the current engine for a bad bundle."""
        try:
            engine = EmbeddedEngine.from_bundle(
                archive,
                verification_key=self._key,
                algorithm=self._algorithm,
                previous=self._engine,
            )
        except EngineError as exc:
            if isinstance(exc.__cause__, SignatureError):
                self._refused(exc.__cause__)
            raise
        changed = engine is not self._engine
        if changed:
            self._facts = BundleFacts.of(archive)
        self._engine, self._error = engine, None
        return changed

    def _refused(self, reason: SignatureError) -> None:
        self.verification_failures += 1
        log.error(
            "bundle_verification_failed",
            source=self._where,
            reason=str(reason),
            keeping=self.revision,  # None: no bundle yet, calls are refused (503)
            failures=self.verification_failures,
        )


class FileBundleSource(_BundleEngine):
    """An embedded engine over one bundle file, loaded once."""

    def __init__(
        self,
        path: Path,
        *,
        verification_key: KeyMaterial | None = None,
        algorithm: str = "RS256",
    ) -> None:
        super().__init__(verification_key, algorithm, "bundle not loaded yet", str(path))
        self._path = path

    async def start(self) -> None:
        try:
            self._load(self._path.read_bytes())
        except (OSError, EngineError) as exc:
            self._error = f"bundle {self._path}: {exc}"
            log.error("bundle_load_failed", error=self._error)

    async def close(self) -> None:
        self._engine = None


class PolledBundleSource(_BundleEngine):
    """An embedded engine kept fresh from a bundle URL by ETag polling."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        interval_s: float = 5.0,
        verification_key: KeyMaterial | None = None,
        algorithm: str = "RS256",
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(verification_key, algorithm, "bundle not fetched yet", url)
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._interval = interval_s
        self._session = session
        self._owns_session = session is None
        self._etag: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.last_success: float | None = None  # time.monotonic() of the last good poll

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        await self.poll_once()
        self._task = asyncio.create_task(self._loop(), name="bundle-poller")

    async def close(self) -> None:
        await stop_task(self._task)
        self._task = None
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.poll_once()

    async def poll_once(self) -> bool:
        """Fetch the bundle unless unchanged; True when a new engine was installed."""
        assert self._session is not None
        headers = dict(self._headers)
        if self._etag and self._engine is not None:
            headers["If-None-Match"] = self._etag
        try:
            async with self._session.get(self._url, headers=headers) as response:
                if response.status == 304:
                    self.last_success = time.monotonic()
                    return False
                body = await response.read()
                if response.status != 200:
                    raise EngineError(f"{self._url} answered {response.status}")
                etag = response.headers.get("ETag")
        except (TimeoutError, aiohttp.ClientError, OSError, EngineError) as exc:
            self._failed(f"cannot fetch the bundle: {exc}")
            return False
        try:
            changed = self._load(body)
        except EngineError as exc:
            self._failed(str(exc))
            return False
        self._etag = etag
        self.last_success = time.monotonic()
        if changed:
            log.info("bundle_activated", revision=self.revision, url=self._url)
        return changed

    def _failed(self, error: str) -> None:
        if error != self._error:
            log.warning("bundle_poll_failed", error=error, keeping=self.revision)
        self._error = error


class OpaSource(_FactsHolder):
    """Decisions from a real OPA; ready while its bundles are activated.

    The policy types, the agent's serving version and who has a token budget live in OPA's
    bundle data: they are read from OPA's Data API at start and every ``refresh_s`` (the last
    answer is kept while OPA cannot give one)."""

    def __init__(
        self,
        url: str,
        *,
        agent_id: str | None = None,
        refresh_s: float = 5.0,
        timeout_s: float = 5.0,
        token: str | None = None,
    ) -> None:
        self._url = url.rstrip("/")
        self._agent_id = agent_id
        self._refresh_s = refresh_s
        self._engine = OpaHttpEngine(self._url, timeout=timeout_s, token=token)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._health: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def engine(self) -> PolicyEngine | None:
        return self._engine

    @property
    def revision(self) -> str | None:
        return None  # OPA reports its revision to the registry (status API)

    async def refresh(self) -> None:
        """Read the policy metadata and this agent's catalog entry from OPA."""
        try:
            root: dict[str, Any] = {
                "policy_meta": await self._read("greenlang/policy_meta"),
                "token_budgets": await self._read("greenlang/token_budgets"),
            }
            if self._agent_id is not None:
                entry = await self._read(f"greenlang/catalog/agents/{quote(self._agent_id)}")
                root["catalog"] = {"agents": {self._agent_id: entry}}
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            log.debug("opa_facts_unavailable", error=repr(exc))
            return
        self._facts = BundleFacts.from_data(root)

    async def _read(self, path: str) -> Any:
        """``GET /v1/data/<path>``: its result, None when undefined."""
        session = self._session()
        async with session.get(f"{self._url}/v1/data/{path}", headers=self._headers) as response:
            if response.status != 200:
                raise ValueError(f"OPA answered {response.status} for {path}")
            body = await response.json()
        return body.get("result") if isinstance(body, dict) else None

    def _session(self) -> aiohttp.ClientSession:
        if self._health is None:
            self._health = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        return self._health

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            await self.refresh()

    async def not_ready_reason(self) -> str | None:
        try:
            async with self._session().get(f"{self._url}/health?bundles") as response:
                if response.status == 200:
                    return None
                return f"OPA at {self._url} is not ready ({response.status})"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return f"OPA at {self._url} is unreachable: {exc!r}"

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._refresh_forever())

    async def close(self) -> None:
        await stop_task(self._task)
        self._task = None
        await self._engine.close()
        if self._health is not None:
            await self._health.close()
            self._health = None
