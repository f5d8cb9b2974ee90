"""The sidecar asks its pre-execution decision as two queries (the rate part, the rest) and
unites them (sidecar/decisions.py). That must be the decision one query gives, for every fixture
case and for every mix of policy types, with the rate given only to the rate part."""

from __future__ import annotations

from typing import Any

import pytest

from bundles.engines.embedded import EmbeddedEngine
from bundles.layout import VERDICT_ENTRYPOINT
from sidecar.decisions import unite

RATE = "rate_limiting"
OTHERS = ("access_control", "compliance", "data_access", "deployment", "retention")
RATES = ({"current": 0, "window_s": 60}, {"current": 590, "window_s": 60}, {"current": 10**6})


def split(engine: EmbeddedEngine, input: dict[str, Any], types: list[str]) -> dict[str, Any]:
    rest = [t for t in types if t != RATE]
    without_rate = {k: v for k, v in input.items() if k != "rate"}
    parts = [
        engine.decide_sync({**without_rate, "policy_types": rest}),
        engine.decide_sync({**input, "policy_types": [RATE]}, VERDICT_ENTRYPOINT),
    ]
    return unite(parts)


@pytest.mark.parametrize("mix", [[t] for t in OTHERS] + [list(OTHERS)])
def test_split_equals_one_query(
    embedded: EmbeddedEngine, fixtures: dict[str, Any], mix: list[str]
) -> None:
    types = [*mix, RATE]
    checked = 0
    for name, case in fixtures["cases"].items():
        for rate in RATES:
            input = {**case["input"], "rate": rate, "policy_types": types}
            whole = embedded.decide_sync(input)
            assert split(embedded, input, types) == whole, name
            checked += 1
    assert checked == 3 * len(fixtures["cases"]) > 200


def test_verdict_is_the_decision_without_obligations(
    embedded: EmbeddedEngine, fixtures: dict[str, Any]
) -> None:
    for name, case in fixtures["cases"].items():
        decision = embedded.decide_sync(case["input"])
        assert "obligations" in decision
        verdict = embedded.decide_sync(case["input"], VERDICT_ENTRYPOINT)
        assert verdict == {k: v for k, v in decision.items() if k != "obligations"}, name
