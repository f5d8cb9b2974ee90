"""Stopping the background loops (relays, pollers, sweepers) every app runs."""

from __future__ import annotations

import asyncio
from typing import Any


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait until it has ended, whatever it ended with (None: nothing)."""
    if task is None:
        return
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
