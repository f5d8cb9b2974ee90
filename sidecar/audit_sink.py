"""Where the sidecar's audit events go: the registry (through the on-disk spool) or the log.

With a registry every event is appended to the spool first and shipped from there, so a
registry outage or a sidecar restart loses nothing. Without one (a standalone sidecar with a
bundle file) events are written as structured log lines. When the spool is full, or the disk
it is on has less than the headroom free, the sidecar stops accepting calls (503) rather than
run calls it cannot audit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import structlog

from kernel.audit_event import SidecarEvent
from sidecar.audit_shipper import AuditShipper
from sidecar.audit_spool import AuditSpool, SpoolFull

log = structlog.get_logger("sidecar.audit")

# Room kept free in the spool for calls already admitted when the check ran.
_HEADROOM_BYTES = 1024 * 1024


class AuditSink(Protocol):
    def accepting(self) -> bool:
        """False when a new call's event could not be kept (the call is refused)."""
        ...

    def record(self, event: SidecarEvent) -> None: ...

    def pending(self) -> int: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class LogAuditSink:
    """Audit events as JSON log lines (standalone sidecar without a registry)."""

    def accepting(self) -> bool:
        return True

    def record(self, event: SidecarEvent) -> None:
        log.info("audit", **event)

    def pending(self) -> int:
        return 0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class DiskRoom:
    """Whether the spool's filesystem has the headroom free: a disk can fill up long before
    the spool reaches its own bound (other files, a small volume). Asked on every call, so
    the answer is kept for `ttl_s`."""

    def __init__(
        self, directory: Path, ttl_s: float = 0.2, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.directory, self.ttl_s, self._clock = directory, ttl_s, clock
        self._checked_at, self._room = -ttl_s, True

    def free_bytes(self) -> int:
        stats = os.statvfs(self.directory)
        return stats.f_bavail * stats.f_frsize

    def __call__(self) -> bool:
        now = self._clock()
        if now - self._checked_at >= self.ttl_s:
            room = self.free_bytes() >= _HEADROOM_BYTES
            if room != self._room:
                log_at = log.info if room else log.error
                log_at(
                    "audit_spool_disk" + ("_room_again" if room else "_full"),
                    directory=str(self.directory),
                    detail=None if room else "calls are refused (503) until the disk has room",
                )
            self._checked_at, self._room = now, room
        return self._room


class SpoolAuditSink:
    """Events spooled on disk and shipped to the registry's audit intake in batches."""

    def __init__(self, spool: AuditSpool, shipper: AuditShipper) -> None:
        self._spool = spool
        self._shipper = shipper
        self.disk_room = DiskRoom(spool.directory)

    def accepting(self) -> bool:
        if self._spool.size_bytes() + _HEADROOM_BYTES >= self._spool.max_bytes:
            return False
        return self.disk_room()

    def record(self, event: SidecarEvent) -> None:
        try:
            self._shipper.submit(event)  # spooled; wakes the shipper once a batch is full
        except SpoolFull:
            # Only calls admitted just before the spool filled get here; the headroom makes
            # it rare. The event is logged so it still exists somewhere.
            log.error("audit_spool_full", **event)

    def pending(self) -> int:
        return self._spool.pending()

    async def start(self) -> None:
        await self._shipper.start()

    async def close(self) -> None:
        await self._shipper.stop()
        self._spool.close()
