"""One leader among the registry processes that share a PostgreSQL database.

Several `greenlang-registry serve` processes may run on one database (more capacity, or a
standby). Every one of them serves the API; the background duties that must run once per
registry — the deployment controller and canary analysis, webhook delivery, the sunset sweeper
and the outbox relay's catch-up loop — run only in the process holding a PostgreSQL
session-level advisory lock. The lock lives as long as the leader's connection: when the leader
dies its backend ends, the lock is free, and the next follower's attempt (every `interval`
seconds) takes over. A leader that loses its connection stops its duties at once, before it can
know whether another process took over, and competes again once the database is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import structlog
from prometheus_client import CollectorRegistry, Gauge

from kernel.tasks import stop_task

LEADER_LOCK = 7_140_010  # advisory lock key (7_140_002 is the audit chain's)
log = structlog.get_logger("registry.leadership")

Connect = Callable[[], Awaitable[asyncpg.Connection]]
Duty = Callable[[], Awaitable[None]]


class Leadership:
    def __init__(
        self,
        connect: Connect,
        on_elected: Duty,
        on_deposed: Duty,
        interval: float = 2.0,
        metrics: CollectorRegistry | None = None,
    ) -> None:
        self._connect, self._elected, self._deposed = connect, on_elected, on_deposed
        self.interval = interval
        self.leading = False
        self._task: asyncio.Task[None] | None = None
        self._gauge = Gauge(
            "greenlang_registry_leader",
            "1 while this registry process runs the once-per-registry background duties",
            registry=metrics,
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="registry-leadership")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
        await self._step_down()

    async def _run(self) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await self._connect()
                await self._hold(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database away: stop leading, compete again later
                if self.leading:
                    log.warning("leadership lost", error=str(exc))
                await self._step_down()
            finally:
                if conn is not None:
                    conn.terminate()  # no goodbye needed: the lock goes with the session
            await asyncio.sleep(self.interval)

    async def _hold(self, conn: asyncpg.Connection) -> None:
        """Wait for the lock on `conn`, lead, and check the connection until it fails."""
        while True:  # another process leads: ask again every interval
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK):
                break
            await asyncio.sleep(self.interval)
        log.info("leadership taken: running the registry's background duties")
        self.leading = True
        self._gauge.set(1)
        await self._elected()
        while True:
            await asyncio.sleep(self.interval)
            await conn.fetchval("SELECT 1", timeout=self.interval * 2)

    async def _step_down(self) -> None:
        if self.leading:
            self.leading = False
            self._gauge.set(0)
            await self._deposed()
