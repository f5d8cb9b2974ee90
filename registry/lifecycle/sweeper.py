"""The sunset sweeper: a background task of `greenlang-registry serve` that retires deprecated
versions once their sunset passed (their deployments are stopped with them)."""

from __future__ import annotations

import asyncio
from typing import Protocol

import structlog

from kernel.tasks import stop_task

log = structlog.get_logger("registry.lifecycle")
DEFAULT_INTERVAL_S = 30.0


class Sweeps(Protocol):
    async def sweep_sunsets(self, limit: int = 100) -> int: ...


class SunsetSweeper:
    def __init__(self, lifecycle: Sweeps, interval: float = DEFAULT_INTERVAL_S) -> None:
        self._lifecycle = lifecycle
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def sweep_once(self) -> int:
        """One pass; a failure is logged and retried next pass, never raised."""
        try:
            retired = await self._lifecycle.sweep_sunsets()
        except Exception as exc:  # database briefly away: the next pass catches up
            log.warning("sunset_sweep_failed", error=str(exc))
            return 0
        if retired:
            log.info("sunset_sweep", retired=retired)
        return retired

    def start(self) -> None:
        async def loop() -> None:
            while True:
                await self.sweep_once()
                await asyncio.sleep(self._interval)

        if self._task is None:
            self._task = asyncio.create_task(loop())

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
