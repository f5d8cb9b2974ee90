"""Rate bands (bundles/rate_bands.py, rego/greenlang/rate_bands.rego): the sidecar reuses a rate
verdict for every count between two breakpoints, so a verdict must never change inside a band.

The engine tests scan every count over a range for several rate configurations and check that
each change of verdict happens at a declared breakpoint, on both engines' Rego (the bands
entrypoint's parity is checked against OPA too)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bundles.compiler import compile_to_dir
from bundles.engines.embedded import EmbeddedEngine
from bundles.engines.opa_http import OpaHttpEngine
from bundles.layout import RATE_BANDS_ENTRYPOINT, REGO_DIR, STOCK_DATA_DIR, STOCK_POLICY_DIR
from bundles.model import Policy
from bundles.rate_bands import policy_breakpoints
from bundles.rego_source import render_policy

AGENT = "gl-rate-bands"


def rate_policy(
    *rules: tuple[dict[str, Any], dict[str, Any]], kind: str = "rate_limiting"
) -> Policy:
    return Policy.model_validate(
        {
            "policy_id": "burst",
            "type": kind,
            "name": "Burst",
            "description": "test",
            "rules": [{"condition": c, "requirement": r} for c, r in rules],
            "enforcement": "deny",
            "enabled": True,
        }
    )


def clause(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "operator": operator} | ({} if value is None else {"value": value})


ALWAYS = clause("agent.id", "not_null")


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("gt", 100, [100, 101]),  # floor, floor + 1 (= ceil, ceil + 1)
        ("gte", 100, [100, 101]),
        ("lt", 2.5, [2, 3, 4]),
        ("lte", 2.5, [2, 3, 4]),
        ("equals", 7, [7, 8]),
        ("not_equals", 0, [0, 1]),
        ("in", [1, 5, "x", True], [1, 2, 5, 6]),  # a count is never a string or a boolean
        ("not_in", [3], [3, 4]),
        ("gt", -4, []),  # counts are never negative
        ("not_null", None, []),
        ("matches", "^1", []),  # patterns match strings only
    ],
)
def test_breakpoints_of_a_rate_current_clause(
    operator: str, value: Any, expected: list[int]
) -> None:
    policy = rate_policy((ALWAYS, clause("rate.current", operator, value)))
    assert policy_breakpoints(policy) == expected


def test_breakpoints_of_every_rule_are_united() -> None:
    policy = rate_policy(
        (clause("rate.current", "gte", 10), clause("user.roles", "contains", "operator")),
        (clause("rate.window_s", "lt", 10), clause("rate.current", "lte", 50)),
    )
    assert policy_breakpoints(policy) == [10, 11, 50, 51]


@pytest.mark.parametrize("field", ["rate", "rate.current.x", "rate.burst"])
def test_rate_read_otherwise_has_no_breakpoints(field: str) -> None:
    policy = rate_policy((ALWAYS, clause(field, "not_null")))
    assert policy_breakpoints(policy) is None
    assert "breakpoints :=" not in render_policy(policy, "p.yaml", ["p.yaml:1"])


def test_only_rate_limiting_modules_declare_breakpoints() -> None:
    rule = (ALWAYS, clause("request.method", "equals", "GET"))
    rate = render_policy(rate_policy(rule), "p.yaml", ["p.yaml:1"])
    access = render_policy(rate_policy(rule, kind="access_control"), "p.yaml", ["p.yaml:1"])
    assert "\nbreakpoints := []\n" in rate
    assert "breakpoints" not in access


# -- engines ----------------------------------------------------------------------------------

BURST_YAML = """
policy_id: burst-guard
type: rate_limiting
name: Burst guard
description: Every operator on rate.current, with whole and fractional constants.
rules:
  - condition: {field: rate.current, operator: gt, value: 12.5}
    requirement: {field: user.roles, operator: contains, value: admin}
    message: over 12.5 needs admin
  - condition: {field: rate.current, operator: in, value: [3, 4, 40]}
    requirement: {field: request.method, operator: equals, value: GET}
    message: unlucky counts
  - condition: {field: rate.window_s, operator: lt, value: 30}
    requirement: {field: rate.current, operator: lte, value: 20}
    message: short windows allow 20
enforcement: warn
enabled: true
"""

# (role limits, agent limit, policy window, warn percent, window measured by the sidecar)
CONFIGS = [
    ({"operator": 30}, None, 60, 80, 60),
    ({"operator": 3000}, 7, 60, 80, 60),
    ({"operator": 50}, None, 60, 33, 7),
    ({"operator": 1}, None, 1, 80, 60),
    ({"operator": 100}, 9, 3600, 90, 3600),
    ({"operator": 45}, None, 7, 100, 13),
]


def engine_for(tmp: Path, config: tuple[Any, ...]) -> EmbeddedEngine:
    roles, agent_limit, window_s, warn, _ = config
    policies = tmp / "yaml"
    policies.mkdir(exist_ok=True)
    (policies / "burst.yaml").write_text(BURST_YAML)
    compiled = compile_to_dir([STOCK_POLICY_DIR, policies], tmp / "compiled")
    limits = {"window_s": window_s, "default": 10, "roles": roles, "warn_percent": warn}
    limits["agents"] = {} if agent_limit is None else {AGENT: agent_limit}
    data = tmp / "data"
    shutil.copytree(STOCK_DATA_DIR, data)
    (data / "greenlang" / "rate_limits" / "data.json").write_text(json.dumps(limits))
    assert compiled.policies
    return EmbeddedEngine.from_paths([REGO_DIR, tmp / "compiled", data])


def rate_input(current: int, window_s: int, roles: list[str]) -> dict[str, Any]:
    return {
        "action": "invoke",
        "policy_types": ["rate_limiting"],
        "user": {"id": "u", "roles": roles, "team": "t"},
        "agent": {"id": AGENT},
        "request": {"method": "POST", "path": "/v1/calculate"},
        "rate": {"current": current, "window_s": window_s},
        "now": 1_800_000_000_000_000_000,
    }


@pytest.mark.parametrize("config", CONFIGS, ids=[f"config{i}" for i in range(len(CONFIGS))])
def test_verdict_changes_only_at_breakpoints(tmp_path: Path, config: tuple[Any, ...]) -> None:
    engine = engine_for(tmp_path, config)
    window = config[4]
    for roles in (["operator"], ["operator", "admin"]):
        bands = engine.decide_sync(rate_input(0, window, roles), RATE_BANDS_ENTRYPOINT)
        points = bands["breakpoints"]
        assert isinstance(points, list) and points == sorted(points)
        top = max(p for p in points if p < 10**9) + 3
        verdicts = [
            engine.decide_sync(rate_input(c, window, roles), "greenlang/verdict")
            for c in range(min(top, 1500))
        ]
        changes = [c for c in range(1, len(verdicts)) if verdicts[c] != verdicts[c - 1]]
        assert changes, "the scan never crossed a threshold: the test would prove nothing"
        assert set(changes) <= set(points), (roles, changes, points)
        # the bands do not depend on the count they were asked with
        later = engine.decide_sync(
            rate_input(len(verdicts) - 1, window, roles), RATE_BANDS_ENTRYPOINT
        )
        assert later == bands
    assert any(v["decision"] == "deny" for v in verdicts)


def test_undeclared_policy_means_no_bands(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, CONFIGS[0])
    input = rate_input(5, 60, ["operator"])
    assert engine.decide_sync(input, RATE_BANDS_ENTRYPOINT)["breakpoints"] is not None
    for mix in (["rate_limiting", "access_control"], None):  # rbac declares none
        asked = (
            {**input, "policy_types": mix}
            if mix
            else {k: v for k, v in input.items() if k != "policy_types"}
        )
        assert engine.decide_sync(asked, RATE_BANDS_ENTRYPOINT) == {"breakpoints": None}


async def test_both_engines_give_the_same_bands(
    embedded: EmbeddedEngine, opa_http: OpaHttpEngine, fixtures: dict[str, Any]
) -> None:
    checked = 0
    for name, case in fixtures["cases"].items():
        for types in (["rate_limiting"], case["input"].get("policy_types")):
            input = {**case["input"], "policy_types": types}
            ours = embedded.decide_sync(input, RATE_BANDS_ENTRYPOINT)
            theirs = await opa_http.decide(input, RATE_BANDS_ENTRYPOINT)
            assert ours == theirs, name
            checked += ours["breakpoints"] is not None
    assert checked > 50
