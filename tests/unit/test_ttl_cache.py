"""The registry's read cache: expiry, LRU bound, and no stale value put after a clear."""

from __future__ import annotations

import time

from registry.ttl_cache import TtlCache


def test_values_expire_after_ttl() -> None:
    cache: TtlCache[str, int] = TtlCache(0.05)
    cache.put("a", 1)
    assert cache.get("a") == 1
    time.sleep(0.08)
    assert cache.get("a") is None


def test_zero_ttl_caches_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(0)
    cache.put("a", 1)
    assert cache.get("a") is None


def test_least_recently_put_is_dropped_when_full() -> None:
    cache: TtlCache[str, int] = TtlCache(60, max_entries=2)
    for key, value in (("a", 1), ("b", 2), ("c", 3)):
        cache.put(key, value)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)


def test_a_value_read_before_a_clear_is_not_put_after_it() -> None:
    """A read that raced a write (the read started, the write committed and cleared the
    cache, then the read finished) must not cache the state from before the write."""
    cache: TtlCache[str, int] = TtlCache(60)
    generation = cache.generation  # the read starts
    cache.clear()  # a write commits meanwhile
    cache.put("a", 1, generation)  # the read finishes with the old value
    assert cache.get("a") is None
    cache.put("a", 2, cache.generation)
    assert cache.get("a") == 2
