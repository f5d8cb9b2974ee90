"""Wait for a condition in async tests by polling it with a deadline (never a fixed sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    probe: Callable[[], Awaitable[T | None]],
    *,
    limit: float = 60.0,
    interval: float = 0.2,
    what: str = "condition",
) -> T:
    """Await ``probe`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + limit
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {limit:.0f}s waiting for {what} (last: {last!r})")
