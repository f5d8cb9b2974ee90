"""Telling "PostgreSQL is away" apart from everything else, so the API answers 503 with
Retry-After while the database restarts or fails over, and a bug still shows as a 500.

asyncpg reports an unreachable server as a plain OSError (connection refused, or the Unix socket
gone), which could as well come from a file; connections are therefore opened through
:func:`connect`, which names that case :class:`DatabaseUnavailable`. A server that is shutting
down or starting up, or a connection lost mid-query, has asyncpg exceptions of its own.
"""

from __future__ import annotations

from typing import Any

import asyncpg

RETRY_AFTER_S = 5


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached right now."""


async def connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    """``asyncpg.connect`` for ``create_pool(connect=...)``: unreachable is DatabaseUnavailable."""
    try:
        return await asyncpg.connect(*args, **kwargs)
    except OSError as exc:
        raise DatabaseUnavailable(f"PostgreSQL cannot be reached: {exc}") from exc


UNAVAILABLE: tuple[type[Exception], ...] = (
    DatabaseUnavailable,
    asyncpg.PostgresConnectionError,  # the connection was lost, or could not be made
    asyncpg.CannotConnectNowError,  # shutting down, starting up, in recovery
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)
