"""How long decision inputs live: ``data.greenlang.retention.decision_input_days`` (the data of
the ``retention`` policy type, bundles/data/greenlang/retention). Older inputs are never
replayed and are deleted, a bounded batch at a time, from the intake's transaction at most once
per PURGE_EVERY_S per process; the hash-chained events stay."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from functools import cache
from typing import Final

import asyncpg

from bundles.layout import STOCK_DATA_DIR
from bundles.sources import SourceError, load_data

DEFAULT_DAYS: Final = 90
PURGE_EVERY_S: Final = 300.0
PURGE_BATCH: Final = 10_000
_last_purge: list[float] = []  # monotonic time of this process's last purge

_PURGE = (
    "DELETE FROM decision_inputs WHERE event_id IN"
    " (SELECT event_id FROM decision_inputs WHERE at < $1 ORDER BY at LIMIT $2)"
)


@cache
def input_days() -> int:
    """Days a decision input is kept (the stock retention data; DEFAULT_DAYS if unreadable)."""
    try:
        value = load_data([STOCK_DATA_DIR]).get("greenlang", {}).get("retention", {})
    except (SourceError, OSError):
        return DEFAULT_DAYS
    days = value.get("decision_input_days") if isinstance(value, dict) else None
    return days if type(days) is int and days > 0 else DEFAULT_DAYS


def oldest_kept(now: datetime) -> datetime:
    return now - timedelta(days=input_days())


async def purge_expired(conn: asyncpg.Connection, now: datetime, *, force: bool = False) -> int:
    """Delete up to PURGE_BATCH inputs past retention; a no-op when this process purged less
    than PURGE_EVERY_S ago (unless ``force``)."""
    clock = time.monotonic()
    if not force and _last_purge and clock - _last_purge[0] < PURGE_EVERY_S:
        return 0
    _last_purge[:] = [clock]
    status: str = await conn.execute(_PURGE, oldest_kept(now), PURGE_BATCH)
    return int(status.rsplit(" ", 1)[-1])
