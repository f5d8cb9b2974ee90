"""The one TTL cache: expiry on an injected clock, insertion-order bound (not LRU), stale reads,
generations, counters."""

from __future__ import annotations

from kernel.ttl_cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_values_expire_after_ttl() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(5, clock=clock)
    cache.put("a", 1)
    clock.now += 4.9
    assert cache.get("a") == 1
    clock.now += 0.1
    assert cache.get("a") is None
    assert (cache.hits, cache.misses) == (1, 1)


def test_a_put_may_shorten_or_lengthen_the_ttl() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(5, clock=clock)
    cache.put("short", 1, ttl=1)
    cache.put("long", 2, ttl=60)
    clock.now += 30
    assert (cache.get("short"), cache.get("long")) == (None, 2)


def test_nothing_is_kept_at_zero_ttl_or_size() -> None:
    for cache in (TtlCache[str, int](0), TtlCache[str, int](60, max_entries=0)):
        cache.put("a", 1)
        assert cache.get("a") is None and len(cache) == 0
    cache = TtlCache[str, int](60)
    cache.put("a", 1, ttl=0)  # e.g. a token already at its exp
    cache.put("b", 1, ttl=-3)
    assert len(cache) == 0


def test_oldest_write_is_dropped_when_full_and_a_hit_does_not_save_it() -> None:
    """Insertion order, not LRU: reading "a" does not protect it; writing it again does."""
    cache: TtlCache[str, int] = TtlCache(60, max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)
    cache.put("b", 20)  # rewritten: now the newest
    cache.put("d", 4)
    assert (cache.get("b"), cache.get("c"), cache.get("d")) == (20, None, 4)
    assert len(cache) == 2


def test_stale_reads_within_grace_until_cleared() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(5, clock=clock)
    cache.put("a", 1)
    clock.now += 7
    assert cache.get("a") is None
    assert cache.stale("a", grace=3) == 1
    assert cache.stale("a", grace=2) is None
    cache.pop("a")
    assert cache.stale("a", grace=60) is None


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
    generation = cache.generation
    cache.pop("other")  # popping any key refuses older reads too
    cache.put("b", 3, generation)
    assert cache.get("b") is None
