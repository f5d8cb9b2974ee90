"""The agent's route (kernel/route.py), polled from the registry and kept on disk.

Every ``interval_s`` the poller asks ``GET {registry}/api/v1/agents/{id}/route?environment=``
with the sidecar's service token. A failed or malformed answer keeps the last good route (a
registry outage never changes where calls go) and counts in
``sidecar_route_poll_failures_total``. Each new route is written atomically to ``state_file``
and read back at start, so a restarted sidecar keeps the split before its first poll succeeds.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Final
from urllib.parse import quote

import aiohttp
import structlog
from pydantic import ValidationError

from kernel.route import Route
from kernel.tasks import stop_task
from sidecar.metrics import SidecarMetrics

log = structlog.get_logger("sidecar.route")

MAX_ROUTE_BYTES: Final = 1024 * 1024
STATE_FILE: Final = "route.json"


class RouteError(Exception):
    """The registry's answer is not a usable route for this sidecar."""


class RoutePoller:
    """``route``: the last good route (None until one was read or loaded)."""

    def __init__(
        self,
        registry_url: str,
        agent_id: str,
        environment: str,
        *,
        token: str | None,
        interval_s: float,
        metrics: SidecarMetrics,
        state_file: Path | None = None,
    ) -> None:
        base = registry_url.rstrip("/")
        self._url = f"{base}/api/v1/agents/{quote(agent_id, safe='')}/route"
        self._params = {"environment": environment}
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._agent_id, self._environment = agent_id, environment
        self._interval = interval_s
        self._metrics = metrics
        self._state_file = state_file
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: str | None = None
        self.route: Route | None = None

    async def start(self) -> None:
        """Load the saved route and poll in the background (the first poll right away)."""
        self.route = self._load()
        timeout = aiohttp.ClientTimeout(total=max(5.0, min(self._interval * 5, 30.0)))
        self._session = aiohttp.ClientSession(timeout=timeout)
        self._task = asyncio.create_task(self._loop(), name="route-poller")

    async def close(self) -> None:
        await stop_task(self._task)
        self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:  # never let the loop die: the last good route stays
                log.exception("route_poll_crashed")
            await asyncio.sleep(self._interval)

    async def poll_once(self) -> bool:
        """Fetch the route; True when it is good (whether or not it changed)."""
        try:
            route = self._check(await self._fetch())
        except (TimeoutError, aiohttp.ClientError, OSError, RouteError, ValidationError) as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            return False
        if self._error is not None:
            log.info("route_poll_recovered")
            self._error = None
        if route != self.route:
            log.info("route_changed", route=route.model_dump(mode="json"))
            self.route = route
            self._save(route)
        return True

    async def _fetch(self) -> bytes:
        assert self._session is not None, "poller not started"
        async with self._session.get(self._url, params=self._params, headers=self._headers) as r:
            if r.status != 200:
                raise RouteError(f"{self._url} answered {r.status}")
            body = bytearray()
            async for chunk in r.content.iter_any():
                body += chunk
                if len(body) > MAX_ROUTE_BYTES:
                    raise RouteError(f"route over {MAX_ROUTE_BYTES} bytes")
        return bytes(body)

    def _check(self, body: bytes) -> Route:
        route = Route.model_validate_json(body)
        if (route.agent_id, route.environment) != (self._agent_id, self._environment):
            raise RouteError(f"route of {route.agent_id}/{route.environment}, not this agent's")
        return route

    def _failed(self, error: str) -> None:
        self._metrics.route_poll_failures.inc()
        if error != self._error:  # once per kind of failure, not every poll
            log.warning("route_poll_failed", error=error, keeping=self.route is not None)
        self._error = error

    def _load(self) -> Route | None:
        path = self._state_file
        if path is None or not path.exists():
            return None
        try:
            route = self._check(path.read_bytes())
        except (OSError, RouteError, ValidationError) as exc:
            log.warning("route_state_unusable", path=str(path), error=str(exc))
            return None
        log.info("route_loaded", path=str(path))
        return route

    def _save(self, route: Route) -> None:
        """Replace the state file atomically (write, fsync, rename); a failure only logs."""
        path = self._state_file
        if path is None:
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as out:
                out.write(route.model_dump_json().encode())
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except OSError as exc:
            log.warning("route_state_not_saved", path=str(path), error=str(exc))
            tmp.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
