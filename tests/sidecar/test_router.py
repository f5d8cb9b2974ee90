"""The routing decision, pure: route + own version -> where calls go (sidecar/router.py)."""

from __future__ import annotations

import random

import pytest

from kernel.route import CanaryBackend, Route, RouteBackend
from sidecar.router import Plan, endpoint_base, forwards, own_address, plan

SELF = own_address("127.0.0.1", 8080)
STABLE = RouteBackend(version="1.0.0", deployment_id="d1", endpoints=["http://10.0.0.1:8080"])


def route(weight: int | None = 10, canary_endpoints: list[str] | None = None) -> Route:
    canary = None
    if weight is not None:
        endpoints = ["http://10.0.0.2:8080"] if canary_endpoints is None else canary_endpoints
        canary = CanaryBackend(
            version="2.0.0", deployment_id="d2", endpoints=endpoints, weight=weight
        )
    return Route(agent_id="gl-a", environment="production", stable=STABLE, canary=canary)


def test_stable_splits_the_canary_weight() -> None:
    p = plan(route(10), "1.0.0", SELF)
    assert p == Plan(route(10).canary, ("http://10.0.0.2:8080",), 10)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("r", "version"),
    [
        (None, "1.0.0"),  # no route
        (route(10), None),  # version unknown
        (route(0), "1.0.0"),  # weight 0
        (route(None), "1.0.0"),  # no canary
        (route(10), "2.0.0"),  # the canary serves what it gets
        (route(10, []), "1.0.0"),  # canary without endpoints
        (route(10, ["127.0.0.1:8080"]), "1.0.0"),  # only itself
        (route(10, ["http://localhost:8080/"]), "1.0.0"),  # itself by another name
        (Route(agent_id="gl-a", environment="production", stable=None, canary=None), "0.9.0"),
    ],
)
def test_serves_locally(r: Route | None, version: str | None) -> None:
    assert plan(r, version, SELF) is None


def test_a_draining_version_forwards_everything_to_stable() -> None:
    p = plan(route(10), "0.9.0", SELF)
    assert p is not None and p.backend == STABLE and p.weight == 100
    assert forwards(p, None, random.Random(1))


def test_a_draining_version_without_stable_endpoints_serves_itself() -> None:
    r = route(None)
    assert r.stable is not None
    r.stable.endpoints = ["127.0.0.1:8080"]
    assert plan(r, "0.9.0", SELF) is None


def test_own_address_is_left_out_of_the_endpoints() -> None:
    p = plan(route(50, ["127.0.0.1:8080", "127.0.0.1:8081"]), "1.0.0", SELF)
    assert p is not None and p.endpoints == ("http://127.0.0.1:8081",)


def test_the_split_is_sticky_and_weighted() -> None:
    p = plan(route(10), "1.0.0", SELF)
    assert p is not None
    rng = random.Random(7)
    picks = [forwards(p, f"user-{i}", rng) for i in range(2000)]
    assert 160 <= sum(picks) <= 240
    assert picks == [forwards(p, f"user-{i}", rng) for i in range(2000)]


def test_endpoint_base() -> None:
    assert endpoint_base("10.0.0.1:8080") == "http://10.0.0.1:8080"
    assert endpoint_base(" https://s.example/x/ ") == "https://s.example/x"


def test_own_address_with_a_wildcard_listener() -> None:
    is_self = own_address("0.0.0.0", 8080)
    assert is_self("http://127.0.0.1:8080") and is_self("http://[::1]:8080")
    assert not is_self("http://127.0.0.1:8081") and not is_self("http://10.0.0.1:8080")
