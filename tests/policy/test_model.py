"""The YAML policy model: what a clause, rule and policy accept."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bundles.model import Clause, Operator, Policy, Rule


def clause(**fields: Any) -> Clause:
    return Clause.model_validate(fields)


APPENDIX_B = {
    "policy_id": "pol-001-certification-required",
    "type": "compliance",
    "name": "Certification Required for Production",
    "description": "All agents must be certified before production deployment",
    "rules": [
        {
            "condition": {
                "field": "deployment.environment",
                "operator": "equals",
                "value": "production",
            },
            "requirement": {"field": "agent.certificate_id", "operator": "not_null"},
        }
    ],
    "enforcement": "deny",
    "enabled": True,
}


def test_appendix_b_policy() -> None:
    policy = Policy.model_validate(APPENDIX_B)
    assert policy.package_key == "pol_001_certification_required"
    assert policy.rules[0].condition == [
        Clause(field="deployment.environment", operator=Operator.EQUALS, value="production")
    ]
    assert policy.message is None


def test_condition_list_all_must_hold() -> None:
    rule = Rule.model_validate(
        {
            "condition": [
                {"field": "deployment.environment", "operator": "equals", "value": "production"},
                {"field": "agent.status", "operator": "in", "value": ["ACTIVE"]},
            ],
            "requirement": {"field": "agent.certificate_id", "operator": "not_null"},
            "message": "needs a certificate",
        }
    )
    assert len(rule.condition) == 2


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"field": "agent.status", "operator": "in", "value": "ACTIVE"}, "non-empty list"),
        ({"field": "agent.status", "operator": "in", "value": []}, "non-empty list"),
        (
            {"field": "agent.status", "operator": "not_in", "value": [["x"]]},
            "string, number or boolean",
        ),
        ({"field": "rate.current", "operator": "gt", "value": "5"}, "needs a number"),
        ({"field": "rate.current", "operator": "lte", "value": True}, "needs a number"),
        ({"field": "rate.current", "operator": "gte", "value": 2**63}, "64-bit"),
        ({"field": "rate.current", "operator": "lt", "value": float("nan")}, "finite"),
        ({"field": "rate.current", "operator": "lt", "value": 1e-310}, "range both engines read"),
        ({"field": "agent.id", "operator": "not_null", "value": "x"}, "takes no value"),
        ({"field": "agent.id", "operator": "is_null", "value": None}, "takes no value"),
        ({"field": "agent.id", "operator": "equals"}, "needs a value"),
        ({"field": "agent.id", "operator": "equals", "value": None}, "string, number or boolean"),
        (
            {"field": "agent.id", "operator": "equals", "value": {"a": 1}},
            "string, number or boolean",
        ),
        ({"field": "agent.id", "operator": "equals", "value": "a\nb"}, "control characters"),
        ({"field": "request.path", "operator": "matches", "value": 5}, "regular expression string"),
        (
            {"field": "request.path", "operator": "matches", "value": "(?=x)"},
            "bad regular expression",
        ),
        (
            {"field": "request.path", "operator": "matches", "value": "(a+)+"},
            "bad regular expression",
        ),
        ({"field": "user.roles", "operator": "contains", "value": 'a"b'}, "printable ASCII"),
        ({"field": "user.roles", "operator": "contains", "value": "é"}, "printable ASCII"),
        ({"field": "agent.id", "operator": "equal", "value": "x"}, "operator"),
        ({"field": "agnet.id", "operator": "not_null"}, "unknown input field 'agnet'"),
        ({"field": "agent..id", "operator": "not_null"}, "dotted segment"),
        ({"field": "agent.Status", "operator": "not_null"}, "dotted segment"),
        ({"field": "agent." + ".".join(["x"] * 8), "operator": "not_null"}, "at most 8"),
        ({"field": "agent.id", "operator": "not_null", "extra": 1}, "Extra inputs"),
    ],
)
def test_clause_errors(fields: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError) as info:
        clause(**fields)
    assert error in str(info.value)


@pytest.mark.parametrize(
    "fields",
    [
        {"field": "agent.status", "operator": "in", "value": ["ACTIVE", 1, 2.5, True]},
        {"field": "rate.current", "operator": "gte", "value": 0.5},
        {"field": "derived.certificate_ttl_ns", "operator": "lt", "value": -(2**63)},
        {"field": "agent.id", "operator": "is_null"},
        {"field": "request.path", "operator": "matches", "value": "^/admin(/|$)"},
        {"field": "user.roles", "operator": "contains", "value": "admin"},
        {"field": "user.roles", "operator": "contains", "value": 3},
        {"field": "now", "operator": "gt", "value": 0},
        {"field": "usage.total_tokens", "operator": "gt", "value": 1000},
        {"field": "usage.model", "operator": "in", "value": ["m-1", "m-2"]},
        {"field": "phase", "operator": "equals", "value": "post"},
        {"field": "request.in", "operator": "equals", "value": "keyword segment"},
        {"field": "agent.id", "operator": "equals", "value": 'unicode é and "quotes"'},
    ],
)
def test_clause_accepted(fields: dict[str, Any]) -> None:
    clause(**fields)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"policy_id": "Pol_1"}, "policy_id"),
        ({"policy_id": "-x"}, "policy_id"),
        ({"type": "billing"}, "type"),
        ({"enforcement": "block"}, "enforcement"),
        ({"enabled": "yes"}, "enabled"),
        ({"rules": []}, "rules"),
        ({"message": 'say "hi"'}, "double quotes"),
        ({"message": "back\\slash"}, "backslashes"),
        ({"description": ""}, "description"),
        ({"surprise": 1}, "Extra inputs"),
    ],
)
def test_policy_errors(change: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError) as info:
        Policy.model_validate({**APPENDIX_B, **change})
    assert error in str(info.value)


def test_required_fields() -> None:
    for key in ("policy_id", "type", "name", "description", "rules", "enforcement", "enabled"):
        doc = {k: v for k, v in APPENDIX_B.items() if k != key}
        with pytest.raises(ValidationError):
            Policy.model_validate(doc)
