"""Parity: thousands of generated decision inputs give identical decisions on regopy and OPA.

Inputs are built around the fixture catalog (so catalog merging, versions and role bindings
are exercised) and around every threshold the stock policies have, with wrong types, missing
sections, nulls and hostile strings mixed in. Any difference is a bug in the Rego.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bundles.engines.embedded import EmbeddedEngine
from bundles.engines.opa_http import OpaHttpEngine
from bundles.layout import DECISION_ENTRYPOINT, RATE_BANDS_ENTRYPOINT
from tests.policy.conftest import load_fixtures

FIXTURES = load_fixtures()
NOW: int = FIXTURES["now"]
DAY = 86_400 * 10**9
AGENTS = sorted(
    set(FIXTURES["data"]["catalog"]["agents"]) | set(FIXTURES["data"]["sidecar"]["agents"])
)
USERS = sorted(FIXTURES["data"]["users"])
VERSIONS = sorted(
    {v for a in FIXTURES["data"]["catalog"]["agents"].values() for v in a.get("versions", {})}
    | {a["version"] for a in FIXTURES["data"]["catalog"]["agents"].values() if "version" in a}
)
TYPES = ["access_control", "rate_limiting", "compliance", "deployment", "data_access", "retention"]
LEVELS = ["public", "internal", "confidential", "restricted"]

# Text that trips engines up: quotes, backslashes, control characters, non-ASCII.
hostile_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12
)
plain_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
# Floats within what bundles.engines.wire accepts (it refuses the double range's edges).
floats = st.floats(min_value=-1e308, max_value=1e308, allow_nan=False).filter(
    lambda x: x == 0 or abs(x) >= 1e-307
)
numbers = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-5, 5000), floats)
scalars = st.one_of(st.none(), st.booleans(), numbers, hostile_text)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(plain_text, inner, max_size=3),
    max_leaves=6,
)


def pick(*options: Any) -> st.SearchStrategy[Any]:
    """One of the given values, or (less often) junk of any type."""
    return st.one_of(*[st.sampled_from(options)] * 4, junk)


times = st.one_of(
    st.integers(NOW - 60 * DAY, NOW + 400 * DAY),
    st.sampled_from([NOW, NOW - 1, NOW + 1, NOW + 30 * DAY, NOW + 30 * DAY - 1]),
    st.integers(-(2**63), 2**63 - 1),
    floats,
    st.none(),
    hostile_text,
)
counts = st.one_of(
    st.integers(0, 7000),
    st.sampled_from([0, 79, 80, 85, 99, 100, 299, 300, 479, 480, 599, 600, 2399, 2400, 3000]),
    numbers,
    junk,
)


def section(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An object with any subset of the fields, sometimes an unknown extra key, or junk."""
    obj = st.fixed_dictionaries({}, optional={**fields, "extra": junk})
    return st.one_of(*[obj] * 6, junk)


users = section(
    id=pick(*USERS, "zed", ""),
    roles=st.one_of(st.lists(pick("admin", "operator", "viewer"), max_size=3), junk),
    team=pick("cbam", "csrd", "ops", "scope3", "platform", ""),
)
agents = section(
    id=pick(*AGENTS, "gl-unknown"),
    version=pick(*VERSIONS, "9.9.9"),
    status=pick("ACTIVE", "DEPRECATED", "RETIRED", "DRAFT"),
    certificate_id=pick("cert-1", None, ""),
    certificate_expires_at=times,
    sunset_at=times,
    owner_team=pick("cbam", "csrd", "ops", None),
    data_clearance=pick(*LEVELS, None),
)
requests = section(
    method=pick("GET", "POST", "PUT", "DELETE", "PATCH"),
    path=st.one_of(
        st.sampled_from(["/admin", "/admin/", "/admin/x", "/administrators", "/run", "/ADMIN"]),
        plain_text.map(lambda s: "/admin" + s),
        hostile_text.map(lambda s: "/admin/" + s),
        junk,
    ),
    data_classification=pick(*LEVELS, "secret", None),
    older_than_days=st.one_of(
        st.integers(0, 4000), st.sampled_from([2554, 2555, 3649, 3650]), junk
    ),
)
approvals = st.lists(
    st.one_of(
        pick(*USERS, "zed", ""), st.fixed_dictionaries({}, optional={"by": pick(*USERS, "")})
    ),
    max_size=3,
)
deployments = section(
    environment=pick("production", "staging", "dev", None),
    approvals=st.one_of(approvals, junk),
    requested_by=pick(*USERS, None),
)
rates = section(current=counts, window_s=st.one_of(st.sampled_from([30, 60, 120]), counts))
# Token usage around the fixture's max_tokens (1000 for gl-cbam-calculator).
token_counts = st.one_of(st.sampled_from([0, 999, 1000, 1001, 5_000_000]), counts)
usages = section(
    total_tokens=token_counts,
    prompt_tokens=token_counts,
    completion_tokens=token_counts,
    model=pick("m-1", None),
)
phases = pick("pre", "post")
policy_types = st.one_of(
    st.lists(pick(*TYPES), max_size=4, unique_by=lambda x: json.dumps(x, sort_keys=True)),
    junk,
)

generated_inputs = st.fixed_dictionaries(
    {"now": st.one_of(st.just(NOW), st.just(NOW), times)},
    optional={
        "action": pick("invoke", "deploy", "audit.purge", "read"),
        "policy_types": policy_types,
        "user": users,
        "agent": agents,
        "request": requests,
        "deployment": deployments,
        "rate": rates,
        "usage": usages,
        "phase": phases,
        "unexpected": junk,
    },
)


SECTIONS: dict[str, st.SearchStrategy[Any]] = {
    "user": users,
    "agent": agents,
    "request": requests,
    "deployment": deployments,
    "rate": rates,
    "usage": usages,
}
FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "user": {
        "id": pick(*USERS),
        "roles": st.lists(pick("admin", "operator")),
        "team": pick("cbam"),
    },
    "agent": {"version": pick(*VERSIONS), "status": pick("ACTIVE", "DEPRECATED", "RETIRED")},
    "request": {"data_classification": pick(*LEVELS), "older_than_days": counts},
    "deployment": {"approvals": approvals, "environment": pick("production", "staging")},
    "rate": {"current": counts, "window_s": counts},
    "usage": {"total_tokens": token_counts},
}


@st.composite
def mutated_fixture_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """A fixture case's input with a few fields or sections replaced: near-miss inputs around
    the behaviour the policy tests pin down."""
    case = draw(st.sampled_from(sorted(FIXTURES["cases"])))
    decision_input = json.loads(json.dumps(FIXTURES["cases"][case]["input"]))
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(SECTIONS)))
        current = decision_input.get(name)
        if isinstance(current, dict) and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(FIELDS[name])))
            current[key] = draw(FIELDS[name][key])
        else:
            decision_input[name] = draw(SECTIONS[name])
    if draw(st.integers(0, 9)) == 0:
        decision_input["policy_types"] = draw(policy_types)
    return decision_input


decision_inputs = st.one_of(generated_inputs, mutated_fixture_inputs())


# Fixtures are session-wide (both engines loaded once), so hypothesis may reuse them.
ENGINES_FIXED = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


async def same_answer(
    input: Any, embedded: EmbeddedEngine, opa_http: OpaHttpEngine, entrypoint: str
) -> dict[str, Any]:
    """OPA's answer, after checking that the embedded engine gives the same."""
    from_opa = await opa_http.decide(input, entrypoint)
    from_embedded = await embedded.decide(input, entrypoint)
    assert from_embedded == from_opa, json.dumps(input, ensure_ascii=False)
    return from_opa


@settings(ENGINES_FIXED, max_examples=3000)
@given(decision_input=decision_inputs)
async def test_generated_inputs_same_decision(
    decision_input: dict[str, Any], embedded: EmbeddedEngine, opa_http: OpaHttpEngine
) -> None:
    decision = await same_answer(decision_input, embedded, opa_http, DECISION_ENTRYPOINT)
    event(f"decision {decision['decision']}")  # --hypothesis-show-statistics
    for finding in decision["violations"] + decision["warnings"]:
        event(f"finding {finding['policy_id']}: {finding['message']}")


@settings(ENGINES_FIXED, max_examples=500)
@given(decision_input=decision_inputs)
async def test_generated_inputs_same_rate_bands(
    decision_input: dict[str, Any], embedded: EmbeddedEngine, opa_http: OpaHttpEngine
) -> None:
    """The sidecar reuses rate verdicts by these bands: both engines must draw them alike."""
    bands = await same_answer(decision_input, embedded, opa_http, RATE_BANDS_ENTRYPOINT)
    event(f"bands {'declared' if bands['breakpoints'] is not None else 'none'}")


@settings(max_examples=300, deadline=None, database=None)
@given(document=junk)
async def test_any_json_input_same_decision(
    document: Any, embedded: EmbeddedEngine, opa_http: OpaHttpEngine
) -> None:
    """Not even an object: both engines still agree (RBAC denies everything)."""
    await same_answer(document, embedded, opa_http, DECISION_ENTRYPOINT)
