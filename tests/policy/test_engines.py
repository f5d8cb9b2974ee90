"""Both engines on the shared fixture cases: each gives the expected decision, and the two
decision documents are identical."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bundles.compiler import compile_policies
from bundles.engines import EngineError, InputError, PolicyEngine
from bundles.engines.embedded import EmbeddedEngine
from bundles.engines.opa_http import OpaHttpEngine
from bundles.layout import STOCK_DATA_DIR, STOCK_POLICY_DIR
from bundles.sources import load_data
from tests.policy.conftest import load_fixtures
from tests.policy.opa import OpaServer

FIXTURES = load_fixtures()
CASES = FIXTURES["cases"]
STOCK_SIDECAR = load_data([STOCK_DATA_DIR])["greenlang"]["sidecar"]


def policy_ids(findings: list[dict[str, Any]]) -> list[str]:
    return sorted({f["policy_id"] for f in findings})


def check_expected(decision: dict[str, Any], expect: dict[str, Any]) -> None:
    assert decision["decision"] == expect["decision"], decision
    assert decision["allow"] is (expect["decision"] != "deny")
    assert policy_ids(decision["violations"]) == expect["violations"], decision
    assert policy_ids(decision["warnings"]) == expect["warnings"], decision
    assert decision["denied_types"] == sorted({POLICY_TYPES[p] for p in expect["violations"]})


def _policy_types() -> dict[str, str]:
    """policy_id -> type of every stock policy (YAML and hand-written)."""
    compiled = compile_policies([STOCK_POLICY_DIR])
    return {meta["policy_id"]: meta["type"] for meta in compiled.metadata().values()}


POLICY_TYPES = _policy_types()


@pytest.mark.parametrize("name", sorted(CASES))
async def test_fixture_case_same_on_both_engines(
    name: str, embedded: EmbeddedEngine, opa_http: OpaHttpEngine
) -> None:
    case = CASES[name]
    from_embedded = await embedded.decide(case["input"])
    from_opa = await opa_http.decide(case["input"])
    check_expected(from_opa, case["expect"])
    assert from_embedded == from_opa


def test_every_stock_policy_has_allow_and_deny_or_warn_cases(
    fixtures: dict[str, Any], embedded: EmbeddedEngine
) -> None:
    """Each stock policy is the subject of an allowing case and of a case where it denies
    (or warns, for warn policies; rate-limit does both)."""
    outcomes: dict[str, set[str]] = {}
    for case in fixtures["cases"].values():
        policy, expect = case["policy"], case["expect"]
        seen = outcomes.setdefault(policy, set())
        if policy in expect["violations"]:
            seen.add("deny")
        if policy in expect["warnings"]:
            seen.add("warn")
        if policy not in expect["violations"] + expect["warnings"]:
            seen.add("allow")
    evaluated = embedded.decide_sync({"now": fixtures["now"]})["evaluated"]
    for policy_id in evaluated:
        assert "allow" in outcomes.get(policy_id, set()), policy_id
        assert outcomes[policy_id] & {"deny", "warn"}, policy_id
    assert {"deny", "warn"} <= outcomes["rate-limit"]


def test_engines_satisfy_the_port(embedded: EmbeddedEngine, opa_http: OpaHttpEngine) -> None:
    assert isinstance(embedded, PolicyEngine)
    assert isinstance(opa_http, PolicyEngine)


@pytest.mark.parametrize(
    "bad",
    [
        {"rate": {"current": 2**63}},
        {"now": float("nan")},
        {"now": 1.7976931348623155e308},
        {"rate": {"current": 1e-310}},
        {"agent": {1: "non-string key"}},
        {"agent": {"id": object()}},
        {"agent": {"id": "lone \ud800 surrogate"}},
        {"agent": {"lone \udfff": "surrogate key"}},
    ],
)
async def test_inputs_no_engine_reads_the_same_are_refused(
    bad: dict[str, Any], embedded: EmbeddedEngine, opa_http: OpaHttpEngine
) -> None:
    with pytest.raises(InputError):
        await embedded.decide(bad)
    with pytest.raises(InputError):
        await opa_http.decide(bad)


async def test_integral_floats_compare_like_integers(
    embedded: EmbeddedEngine, opa_http: OpaHttpEngine
) -> None:
    """1.7e18 as a float is sent as the integer it is, so nanosecond times compare exactly."""
    agent = {
        "id": "x",
        "status": "ACTIVE",
        "certificate_id": "c",
        "certificate_expires_at": 1.7e18,
    }
    decision_input = {"agent": agent, "now": 1700000000000000001, "policy_types": ["compliance"]}
    a = await embedded.decide(decision_input)
    b = await opa_http.decide(decision_input)
    assert a == b
    assert a["decision"] == "deny"  # expired by one nanosecond


async def test_opa_without_the_bundle_is_an_engine_error(tmp_path: Any) -> None:
    with OpaServer([], tmp_path) as server:
        engine = OpaHttpEngine(server.url)
        try:
            with pytest.raises(EngineError, match="undefined"):
                await engine.decide({})
        finally:
            await engine.close()


async def test_unreachable_opa_is_an_engine_error() -> None:
    from tests.support.servers import free_port

    engine = OpaHttpEngine(f"http://127.0.0.1:{free_port()}", timeout=1)
    try:
        with pytest.raises(EngineError, match="unreachable"):
            await engine.decide({})
    finally:
        await engine.close()


async def test_http_engine_uses_a_given_session(opa_server: OpaServer) -> None:
    async with aiohttp.ClientSession() as session:
        engine = OpaHttpEngine(opa_server.url, session=session)
        decision = await engine.decide({"policy_types": []})
        await engine.close()  # not ours: stays open
        assert not session.closed
    assert decision == {
        "allow": True,
        "decision": "allow",
        "violations": [],
        "warnings": [],
        "evaluated": [],
        "denied_types": [],
        "obligations": {
            "timeout_s": 30,
            "max_request_bytes": 10485760,
            "max_response_bytes": 52428800,
            "max_tokens": None,
            "mask": [
                {"name": "email", "pattern": STOCK_SIDECAR["mask_patterns"]["email"]},
                {"name": "iban", "pattern": STOCK_SIDECAR["mask_patterns"]["iban"]},
            ],
        },
    }


async def test_http_engine_reopens_its_session_after_close(opa_server: OpaServer) -> None:
    engine = OpaHttpEngine(opa_server.url)
    first = await engine.decide({"policy_types": []})
    await engine.close()
    assert await engine.decide({"policy_types": []}) == first
    await engine.close()


def test_embedded_without_decision_module_is_an_engine_error() -> None:
    with pytest.raises(EngineError):
        EmbeddedEngine({"x.rego": "package x\n\ny := 1\n"}, {})


def test_embedded_with_broken_rego_is_an_engine_error() -> None:
    with pytest.raises(EngineError, match="cannot build"):
        EmbeddedEngine({"greenlang/decision.rego": "package greenlang.decision\n\nallow := \n"}, {})


async def test_mask_patterns_reach_python_unchanged_from_both_engines(
    embedded: EmbeddedEngine, opa_http: OpaHttpEngine
) -> None:
    """A pattern with backslashes (the fixture's vat_id: `\\b[A-Z]{2}...`) comes out of both
    engines as the very Python string the data holds: regopy keeps escapes undecoded inside
    Rego, but a value only passed through is encoded back the same way."""
    own = FIXTURES["data"]["sidecar"]["agents"]["gl-cbam-calculator"]["mask_patterns"]["vat_id"]
    assert "\\" in own
    decision_input = {"agent": {"id": "gl-cbam-calculator"}, "policy_types": []}
    from_embedded = await embedded.decide(decision_input)
    from_opa = await opa_http.decide(decision_input)
    assert from_embedded["obligations"] == from_opa["obligations"]
    assert from_embedded["obligations"]["mask"] == [
        {"name": "email", "pattern": STOCK_SIDECAR["mask_patterns"]["email"]},
        {"name": "iban", "pattern": STOCK_SIDECAR["mask_patterns"]["iban"]},
        {"name": "vat_id", "pattern": own},
    ]
    assert from_embedded["obligations"]["timeout_s"] == 120
    assert from_embedded["obligations"]["max_tokens"] == 1000


# Escapes, quotes, backslash runs, control characters and non-ASCII.
ODD_PATTERNS = [
    "\\d{3}\\.\\d",
    '[\\"\\\\]',
    "\\u00e9|é",
    "a\\tb",
    "\\\\\\\\n",
    "a\nb\x01",
    '"',
    "\\",
]


async def test_any_pattern_text_reaches_python_unchanged(
    engine_paths: list[Path], tmp_path: Path
) -> None:
    """Whatever text an agent's own pattern is, both engines (each loading the data from a JSON
    file) hand it to Python as the identical string."""
    extra = tmp_path / "extra.json"
    agents = {
        f"x{i}": {"mask": ["p"], "mask_patterns": {"p": p}} for i, p in enumerate(ODD_PATTERNS)
    }
    extra.write_text(json.dumps({"greenlang": {"sidecar": {"agents": agents}}}))
    paths = [p for p in engine_paths if not str(p).endswith("overlay.json")] + [extra]
    embedded = EmbeddedEngine.from_paths(paths)
    (tmp_path / "opa").mkdir()
    with OpaServer(paths, tmp_path / "opa") as server:
        http = OpaHttpEngine(server.url)
        try:
            for i, pattern in enumerate(ODD_PATTERNS):
                decision_input = {"agent": {"id": f"x{i}"}, "policy_types": []}
                expected = [{"name": "p", "pattern": pattern}]
                assert (await embedded.decide(decision_input))["obligations"]["mask"] == expected
                assert (await http.decide(decision_input))["obligations"]["mask"] == expected
        finally:
            await http.close()


@pytest.mark.parametrize(
    ("audit_days", "restricted", "older_than", "decision"),
    [(90, 400, 100, "deny"), (90, 400, 400, "allow"), (400, 90, 100, "deny"), (9, 10, 9, "deny")],
)
def test_retention_takes_the_larger_number_not_the_larger_text(
    compiled_dir: Path, audit_days: int, restricted: int, older_than: int, decision: str
) -> None:
    """regopy's max orders numbers as text (max({90, 400}) is 90 there): the policy must not
    use it. Days with different digit counts tell the two orders apart."""
    from bundles.layout import REGO_DIR
    from bundles.sources import load_modules

    paths = [REGO_DIR, compiled_dir, STOCK_DATA_DIR]
    data = load_data(paths)
    data["greenlang"]["retention"] = {
        "audit_days": audit_days,
        "by_classification": {"restricted": restricted},
    }
    engine = EmbeddedEngine(load_modules(paths), data)
    purge = {
        "action": "audit.purge",
        "user": {"id": "alice", "roles": ["admin"]},
        "request": {"data_classification": "restricted", "older_than_days": older_than},
        "policy_types": ["retention"],
    }
    assert engine.decide_sync(purge)["decision"] == decision
