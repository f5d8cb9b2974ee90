"""The decision cache and the union of decisions over disjoint policy types."""

from __future__ import annotations

from typing import Any

from sidecar.decisions import DecisionCache, unite


def finding(policy_id: str, message: str = "m") -> dict[str, str]:
    return {"policy_id": policy_id, "message": message}


def decision(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "allow": True,
        "decision": "allow",
        "violations": [],
        "warnings": [],
        "evaluated": [],
        "denied_types": [],
    }
    return base | kw


def test_cache_entries_expire() -> None:
    now = [0.0]
    cache = DecisionCache(ttl_s=1.0, clock=lambda: now[0])
    engine = object()
    a = ("pre", ("x",))
    assert cache.get(engine, a) is None
    cache.put(engine, a, decision())
    assert cache.get(engine, a) == decision()
    now[0] = 1.0
    assert cache.get(engine, a) is None  # expired
    assert (cache.hits, cache.misses) == (1, 2)


def test_cache_is_dropped_when_the_engine_changes() -> None:
    cache = DecisionCache(ttl_s=60)
    old, new = object(), object()
    key = ("a", 1)
    cache.get(old, key)
    cache.put(old, key, decision())
    assert cache.get(new, key) is None
    cache.put(old, key, decision())  # a late answer from the old engine is not kept
    assert cache.get(new, key) is None


def test_cache_is_bounded_and_off_at_zero_ttl() -> None:
    cache = DecisionCache(ttl_s=60, max_entries=2)
    engine = object()
    keys = [("i", i) for i in range(3)]
    for k in keys:
        cache.get(engine, k)
        cache.put(engine, k, decision())
    assert cache.get(engine, keys[0]) is None and cache.get(engine, keys[2]) is not None
    off = DecisionCache(ttl_s=0)
    off.get(engine, keys[0])
    off.put(engine, keys[0], decision())
    assert off.get(engine, keys[0]) is None


def test_unite_orders_and_combines_like_the_decision_entrypoint() -> None:
    static = decision(
        warnings=[finding("z-warn")],
        evaluated=["b", "d"],
        obligations={"timeout_s": 5},
        decision="warn",
    )
    rate = decision(
        violations=[finding("rate-limit", "rate limit reached")],
        evaluated=["c", "a"],
        denied_types=["rate_limiting"],
    )
    out = unite([static, rate])
    assert out["decision"] == "deny" and out["allow"] is False
    assert out["violations"] == [finding("rate-limit", "rate limit reached")]
    assert out["warnings"] == [finding("z-warn")]
    assert out["evaluated"] == ["a", "b", "c", "d"]
    assert out["denied_types"] == ["rate_limiting"]
    assert out["obligations"] == {"timeout_s": 5}
    both = unite([decision(violations=[finding("b", "y"), finding("b", "x")]), decision()])
    assert both["violations"] == [finding("b", "x"), finding("b", "y")]
    assert unite([decision(), decision(warnings=[finding("w")])])["decision"] == "warn"
    assert unite([decision(), decision()])["decision"] == "allow"
