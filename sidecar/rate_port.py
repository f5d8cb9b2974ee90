"""The rate-counting port: where a caller's admitted calls in the window are counted.

Two adapters: `sidecar.rate.SlidingWindowCounter` (in process, the default) and
`sidecar.rate_redis.RedisRateStore` (one Redis shared by every replica of an agent's sidecar).
Methods return a value or an awaitable of it: the in-process counter answers at once, so the hot
path pays no coroutine, and only a store that needs the network is awaited (the enforcer tells
them apart with one ``isinstance`` or ``is None`` test).

``ticket`` names one reservation: `take` records it, `release` removes exactly that one (in a
shared store another replica's newer hit must not be removed instead). The in-process counter
ignores it and removes its newest hit, which is equivalent there.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol


class RateStoreUnavailable(Exception):
    """The shared store cannot be reached and no in-process fallback is configured."""


class RateCounter(Protocol):
    window_s: float

    def take(self, key: str, ticket: int = 0) -> int | Awaitable[int]:
        """Record a hit for ``key`` now; the number of hits in the window before it."""
        ...

    def release(self, key: str, ticket: int = 0) -> Awaitable[None] | None:
        """Undo the hit ``ticket`` of ``key`` (its call was not admitted)."""
        ...

    def retry_after(self, key: str) -> int | Awaitable[int]:
        """Whole seconds (>= 1) until the oldest hit of ``key`` leaves the window."""
        ...


class TokenCounter(Protocol):
    """Tokens a caller used in the window: a weighted counter, fed after each answered call.

    Two adapters: `sidecar.rate_tokens.TokenWindowCounter` (in process) and
    `sidecar.rate_tokens_redis.RedisTokenStore` (shared by the replicas). Like `RateCounter`, an
    in-process adapter answers at once and a shared store returns awaitables."""

    window_s: float

    def used(self, key: str) -> int | Awaitable[int]:
        """Tokens recorded for ``key`` in the window ending now."""
        ...

    def add(self, key: str, tokens: int) -> Awaitable[None] | None:
        """Record ``tokens`` used by ``key`` now."""
        ...

    def retry_after(self, key: str) -> int | Awaitable[int]:
        """Whole seconds (>= 1) until the oldest tokens of ``key`` leave the window."""
        ...
