"""``agent_certificate_expiry_days{agent_id,version}``: days until each version's certificate
expires (negative once expired), for the "certificate expiring in < 30 / < 7 days" alerts.

The gauge is a custom collector over a snapshot of expiry timestamps: the days are computed from
the clock at every scrape, so the value is current although the database is read only when the
snapshot is stale (a certificate or version changed in this process, another process's change
was announced, or ``max_age_s`` passed). ``refresh_if_stale`` runs before each scrape; a failed
read keeps the last snapshot (and is logged), so ``/metrics`` never fails for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Final

import asyncpg
import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from registry.store.port import CertificateRepository

log = structlog.get_logger("registry.certificate_expiry")

NAME: Final = "agent_certificate_expiry_days"
MAX_AGE_S: Final = 30.0
SECONDS_PER_DAY: Final = 86_400.0


class CertificateExpiryGauge(Collector):
    def __init__(
        self,
        certificates: CertificateRepository,
        *,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._certificates = certificates
        self.max_age_s = max_age_s
        self._clock = clock  # wall clock: expiry is a date
        self._snapshot: dict[tuple[str, str], float] = {}
        self._loaded_at: float | None = None  # time.monotonic() of the last good read
        self._changed = True
        self._lock = asyncio.Lock()
        self.reads = 0  # database reads so far (tests and debugging)

    def mark_changed(self, _agent_id: str | None = None) -> None:
        """A certificate or version may have changed: read again before the next scrape."""
        self._changed = True

    def stale(self) -> bool:
        loaded = self._loaded_at
        return self._changed or loaded is None or time.monotonic() - loaded >= self.max_age_s

    async def refresh_if_stale(self) -> None:
        if not self.stale():
            return
        async with self._lock:  # concurrent scrapes share one read
            if self.stale():
                await self._refresh()

    async def _refresh(self) -> None:
        self._changed = False  # a change during the read marks it again
        try:
            rows = await self._certificates.expiries()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self._changed = True
            log.warning("certificate_expiry_refresh_failed", error=repr(exc))
            return
        self.reads += 1
        self._snapshot = {(r.agent_id, r.version): r.expires_at.timestamp() for r in rows}
        self._loaded_at = time.monotonic()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        now = self._clock()
        for (agent_id, version), expires in sorted(self._snapshot.items()):
            family.add_metric([agent_id, version], (expires - now) / SECONDS_PER_DAY)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            NAME,
            "Days until the version's certificate expires (negative once expired)",
            labels=["agent_id", "version"],
        )
