"""What the rate and token counter contract suites share: answers that may be awaitables, and
Redis stores of one fresh agent id (each one replica's view of the shared windows)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from typing import Any, Generic, Protocol, TypeVar

from sidecar.rate_redis import redis_client

T = TypeVar("T")


class _Closable(Protocol):
    async def close(self) -> None: ...


S = TypeVar("S", bound=_Closable)


async def resolved(value: T | Awaitable[T]) -> T:
    return await value if isinstance(value, Awaitable) else value


class ReplicaStores(Generic[S]):
    """``stores(window_s)`` makes one more replica's store of the same agent."""

    def __init__(self, url: str, kind: Any) -> None:
        self.url, self.kind = url, kind
        self.agent = f"agent-{secrets.token_hex(4)}"
        self.made: list[S] = []

    def __call__(self, window_s: float = 60, **kw: object) -> S:
        store: S = self.kind(redis_client(self.url), self.agent, window_s, **kw)
        self.made.append(store)
        return store

    async def close(self) -> None:
        for store in self.made:
            await store.close()
