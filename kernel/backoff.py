"""Retry delays shared by the shippers (audit events to the registry, log lines to a search
cluster): exponential backoff with equal jitter."""

from __future__ import annotations

import random
from collections.abc import Callable


def retry_delay(
    failures: int,
    interval_s: float,
    max_backoff_s: float,
    hint: float | None = None,
    draw: Callable[[float, float], float] = random.uniform,
) -> float:
    """Exponential backoff with equal jitter: a delay drawn from ``[cap/2, cap]`` where
    ``cap = interval_s * 2**failures``, at most ``max_backoff_s``. Half the cap is a floor, so a
    registry that is down is never retried at once; the other half spreads the sidecars apart.
    A ``Retry-After`` hint lengthens the delay, within ``max_backoff_s``."""
    cap = min(max_backoff_s, interval_s * 2 ** min(failures, 32))
    delay = draw(cap / 2, cap)
    if hint is not None:
        delay = max(delay, min(hint, max_backoff_s))
    return delay
