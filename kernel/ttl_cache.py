"""One in-process cache whose entries expire: the registry's read caches, the sidecar's decision
cache and its verified-token cache.

- Expiry: an entry lives ``ttl`` seconds (the cache's, or one given per ``put``) on an
  injectable clock; an expired entry is a miss but stays readable through ``stale`` until it is
  evicted, popped or cleared (serve-stale-on-error).
- Bound: at most ``max_entries``. A full cache drops the entry *written* longest ago (insertion
  order; writing a key again moves it to the end). This is not LRU: a hit moves nothing, so a
  read is one dict lookup and one clock call, the sidecar's hot path stays that cheap, and with
  one TTL the oldest write is also the first to expire.
- Generation: ``pop`` and ``clear`` bump ``generation``; a ``put`` given the generation read
  before computing its value is dropped if either happened meanwhile, so a read that raced a
  write never outlives the write.
- ``hits``/``misses`` count ``get`` answers (metrics, tests).

Not thread-safe, and not locked: every user lives on one event loop. Hand-written rather than
``cachetools.TTLCache`` because that one is LRU with per-access bookkeeping and has neither
generations, per-entry TTLs nor stale reads.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    __slots__ = ("_clock", "_entries", "generation", "hits", "max_entries", "misses", "ttl")

    def __init__(
        self, ttl: float, max_entries: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self.generation = 0
        self.hits = self.misses = 0

    def __len__(self) -> int:
        """Entries held, expired ones included until evicted."""
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The cached value, or None when absent or expired."""
        hit = self._entries.get(key)
        if hit is None or hit[0] <= self._clock():
            self.misses += 1
            return None
        self.hits += 1
        return hit[1]

    def stale(self, key: K, grace: float) -> V | None:
        """The cached value when it expired less than `grace` seconds ago (None after a clear,
        pop or eviction)."""
        hit = self._entries.get(key)
        if hit is None or hit[0] + grace <= self._clock():
            return None
        return hit[1]

    def put(
        self, key: K, value: V, generation: int | None = None, ttl: float | None = None
    ) -> None:
        """Cache `value` for `ttl` (default: the cache's); with `generation` (read before
        computing it), only when nothing was cleared or popped meanwhile. Nothing is kept when
        the cache's TTL, this TTL or ``max_entries`` is not positive."""
        life = self.ttl if ttl is None else ttl
        if self.ttl <= 0 or life <= 0 or self.max_entries <= 0:
            return
        if generation is not None and generation != self.generation:
            return
        entries = self._entries
        entries[key] = (self._clock() + life, value)
        entries.move_to_end(key)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)

    def pop(self, key: K) -> None:
        """Forget `key` (and, like clear, refuse values read before this)."""
        self._entries.pop(key, None)
        self.generation += 1

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1
