"""A small in-process cache whose entries expire after `ttl` seconds (least recently used entries
are dropped first when full). Used where a short staleness across processes is acceptable."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, max_entries: int = 4096):
        self.ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        # Bumped by clear() and pop(): a value read before either is not put after it (put).
        self.generation = 0

    def get(self, key: K) -> V | None:
        """The cached value, or None when absent or expired."""
        hit = self._entries.get(key)
        if hit is None or hit[0] <= time.monotonic():
            return None
        return hit[1]

    def stale(self, key: K, grace: float) -> V | None:
        """The cached value when it expired less than `grace` seconds ago (None after a clear
        or eviction)."""
        hit = self._entries.get(key)
        if hit is None or hit[0] + grace <= time.monotonic():
            return None
        return hit[1]

    def put(
        self, key: K, value: V, generation: int | None = None, ttl: float | None = None
    ) -> None:
        """Cache `value` for `ttl` (default: the cache's); with `generation` (read before
        computing it), only when nothing was cleared or popped meanwhile: a read that raced a
        write must not outlive the write."""
        if self.ttl <= 0 or (generation is not None and generation != self.generation):
            return
        self._entries[key] = (time.monotonic() + (self.ttl if ttl is None else ttl), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        """Forget `key` (and, like clear, refuse values read before this)."""
        self._entries.pop(key, None)
        self.generation += 1

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1
