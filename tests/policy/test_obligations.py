"""Sidecar obligations: the stock mask patterns (what the sidecar runs with Python `re`), and
both engines agreeing on obligations and on the sidecar-obligations policy for well-formed and
malformed data.greenlang.sidecar."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from re import _constants as re_constants  # the parser `re` compiles with (3.11+)
from re import _parser as re_parser
from typing import Any

import pytest

from bundles.assemble import bundle_data
from bundles.engines.embedded import EmbeddedEngine
from bundles.engines.opa_http import OpaHttpEngine
from bundles.layout import REGO_DIR, STOCK_DATA_DIR
from bundles.sidecar_data import SidecarDataError, sidecar_data_problems
from bundles.sources import load_data
from tests.policy.opa import OpaServer

STOCK = load_data([STOCK_DATA_DIR])["greenlang"]["sidecar"]
DEFAULTS = STOCK["defaults"]
PATTERNS = {name: re.compile(p) for name, p in STOCK["mask_patterns"].items()}


def test_stock_defaults() -> None:
    assert STOCK["defaults"] == {
        "timeout_s": 30,
        "max_request_bytes": 10 * 1024 * 1024,
        "max_response_bytes": 50 * 1024 * 1024,
        "max_tokens": None,
        "mask": ["email", "iban"],
    }
    assert STOCK["agents"] == {}
    assert sorted(STOCK["mask_patterns"]) == ["email", "iban", "phone"]


def test_stock_patterns_have_no_backslashes() -> None:
    """The documented rule for stock patterns: `[0-9]`, `[.]`, lookarounds; no `\\d`, `\\.`."""
    for pattern in STOCK["mask_patterns"].values():
        assert "\\" not in pattern


@pytest.mark.parametrize(
    ("name", "text", "found"),
    [
        ("email", "mail carla.m+x@example.co.uk now", ["carla.m+x@example.co.uk"]),
        ("email", '{"to": "Ops-Team@Sub.Example.ORG"}', ["Ops-Team@Sub.Example.ORG"]),
        ("email", "a@b.c x@localhost @example.com user@", []),
        ("iban", "IBAN DE89 3704 0044 0532 0130 00.", ["DE89 3704 0044 0532 0130 00"]),
        ("iban", "GB82WEST12345698765432 and FR1420041010050500013M02606", None),
        ("iban", "de89370400440532013000 DE89", []),
        ("iban", "SHA DE12ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", []),  # too long
        ("iban", "ORDER-DE89370400440532013000", ["DE89370400440532013000"]),
        (
            "phone",
            "call +49 30 1234567 or +1 (555) 010-9999",
            ["+49 30 1234567", "+1 (555) 010-9999"],
        ),
        ("phone", "+12 and 2024-01-01 and 12345678", []),
    ],
)
def test_stock_patterns_match(name: str, text: str, found: list[str] | None) -> None:
    matches = [m.group(0) for m in PATTERNS[name].finditer(text)]
    if found is None:  # every whitespace-separated word that looks like an IBAN
        found = [w for w in text.split() if w[:2].isalpha() and len(w) > 14]
    assert matches == found


@pytest.mark.parametrize("name", sorted(STOCK["mask_patterns"]))
def test_stock_patterns_are_linear(name: str) -> None:
    """The sidecar runs these over every string of up to 50 MiB of JSON. What keeps a pattern
    linear, checked on its parse tree rather than by timing it: every repeat is bounded (an
    unbounded `[...]+@` is quadratic on a long run of word characters), and a lookbehind at the
    start stops each match attempt inside such a run at once."""
    tree = re_parser.parse(STOCK["mask_patterns"][name])
    assert _unbounded_repeats(tree) == [], name
    first_op, first_arg = tree[0]
    assert first_op is re_constants.ASSERT_NOT and first_arg[0] == -1, "starts with (?<!...)"


def _unbounded_repeats(tree: Any) -> list[Any]:
    """Every `*`, `+` or `{n,}` in a parsed pattern, nested groups included."""
    found = []
    for op, arg in tree:
        if op in (re_constants.MAX_REPEAT, re_constants.MIN_REPEAT):
            low, high, sub = arg
            if high is re_constants.MAXREPEAT:
                found.append((op, low))
            found += _unbounded_repeats(sub)
        elif op is re_constants.SUBPATTERN:
            found += _unbounded_repeats(arg[-1])
        elif op in (re_constants.ASSERT, re_constants.ASSERT_NOT):
            found += _unbounded_repeats(arg[1])
        elif op is re_constants.BRANCH:
            for branch in arg[1]:
                found += _unbounded_repeats(branch)
    return found


# Sidecar data both engines must agree on: the agents' entries (well-formed and not) and whole
# sidecar documents that are broken.
AGENT_ENTRIES: dict[str, Any] = {
    "own": {"mask": ["vat", "email"], "mask_patterns": {"vat": "\\bDE[0-9]{9}\\b"}},
    "empty-mask": {"mask": []},
    "unknown": {"mask": ["ssn", "email", "zip"]},
    "bad-name": {"mask": ["E-Mail", "email"], "mask_patterns": {"E-Mail": "x"}},
    "quote-name": {"mask": ['a"b', "email"], "mask_patterns": {'a"b': "x"}},
    "not-list": {"mask": "email"},
    "mixed-list": {"mask": ["email", 5, None]},
    "null-mask": {"mask": None},
    "string-entry": "email",
    "false-entry": False,
    "patterns-list": {"mask_patterns": ["email"]},
    "pattern-number": {"mask": ["n"], "mask_patterns": {"n": 5}},
    "limits": {"timeout_s": 0.25, "max_request_bytes": 0, "max_tokens": 0},
    "bad-limits": {"timeout_s": "30", "max_request_bytes": 1.5, "max_response_bytes": -1},
    "huge-limits": {"timeout_s": 86401, "max_response_bytes": 10**13, "max_tokens": 2**62},
}
SIDECAR_DOCUMENTS: dict[str, Any] = {
    "stock": {**STOCK, "agents": AGENT_ENTRIES},
    "no-defaults": {"mask_patterns": STOCK["mask_patterns"], "agents": AGENT_ENTRIES},
    "defaults-not-object": {**STOCK, "defaults": ["email"], "agents": AGENT_ENTRIES},
    "patterns-not-object": {**STOCK, "mask_patterns": "email", "agents": AGENT_ENTRIES},
    "no-agents": {"defaults": STOCK["defaults"], "mask_patterns": STOCK["mask_patterns"]},
    "null": None,
}
INPUTS = [
    {"agent": {"id": agent}, "policy_types": types, "usage": {"total_tokens": tokens}}
    for agent in [*AGENT_ENTRIES, "nobody"]
    for types in (["compliance", "rate_limiting"], [])
    for tokens in (1, None)
] + [{}, {"policy_types": ["compliance"]}, {"agent": {"id": 5}, "policy_types": ["compliance"]}]


@pytest.fixture(scope="module", params=sorted(SIDECAR_DOCUMENTS))
def sidecar_engines(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, compiled_dir: Path
) -> Iterator[tuple[str, EmbeddedEngine, str]]:
    data = tmp_path_factory.mktemp("sidecar-data")
    shutil.copytree(STOCK_DATA_DIR, data, dirs_exist_ok=True)
    document = SIDECAR_DOCUMENTS[request.param]
    target = data / "greenlang" / "sidecar" / "data.json"
    if document is None:
        target.unlink()
    else:
        target.write_text(json.dumps(document, ensure_ascii=False))
    paths = [REGO_DIR, compiled_dir, data]
    with OpaServer(paths, tmp_path_factory.mktemp("sidecar-opa")) as server:
        yield request.param, EmbeddedEngine.from_paths(paths), server.url


async def test_sidecar_data_same_decisions(
    sidecar_engines: tuple[str, EmbeddedEngine, str],
) -> None:
    _, embedded, url = sidecar_engines
    http = OpaHttpEngine(url)
    try:
        for decision_input in INPUTS:
            from_opa = await http.decide(decision_input)
            assert await embedded.decide(decision_input) == from_opa, decision_input
            # Fail closed: whatever is wrong with the data, a compliance decision on it denies.
            if "compliance" in decision_input.get("policy_types", []) and not _usable(from_opa):
                assert "sidecar-obligations" in {v["policy_id"] for v in from_opa["violations"]}
    finally:
        await http.close()


def _usable(decision: dict[str, Any]) -> bool:
    """What the sidecar can enforce as it is (the policy's check, from the outside)."""
    o = decision["obligations"]

    def number(x: Any, low: float = 0) -> bool:
        return type(x) in (int, float) and x >= low

    return (
        number(o["timeout_s"])
        and 0 < o["timeout_s"] <= 86400
        and number(o["max_request_bytes"])
        and number(o["max_response_bytes"])
        and all(isinstance(m["pattern"], str) for m in o["mask"])
    )


def test_unusable_entries_deny(tmp_path: Path, compiled_dir: Path) -> None:
    """With the stock defaults and patterns, exactly the entries the sidecar could not enforce
    deny at run time (bundle builds refuse every malformed one: test_sidecar_data_check)."""
    data = tmp_path / "data"
    shutil.copytree(STOCK_DATA_DIR, data)
    target = data / "greenlang" / "sidecar" / "data.json"
    target.write_text(json.dumps(SIDECAR_DOCUMENTS["stock"], ensure_ascii=False))
    embedded = EmbeddedEngine.from_paths([REGO_DIR, compiled_dir, data])
    denied = set()
    for agent in AGENT_ENTRIES:
        decision = embedded.decide_sync({"agent": {"id": agent}, "policy_types": ["compliance"]})
        if any(v["policy_id"] == "sidecar-obligations" for v in decision["violations"]):
            denied.add(agent)
    assert denied == UNUSABLE


# Entries the run-time check denies: no pattern, a mask that is not a list, a timeout or byte
# limit that is not a number in range (max_tokens is token-limit's, once there is usage).
UNUSABLE = {"unknown", "not-list", "null-mask", "pattern-number", "bad-limits", "huge-limits"}
# Entries that are well-formed (bundle builds accept them).
WELL_FORMED = {"own", "empty-mask", "limits"}


def test_sidecar_data_check_accepts_stock_and_fixture_data(fixtures: dict[str, Any]) -> None:
    assert sidecar_data_problems(STOCK) == []
    assert sidecar_data_problems({**STOCK, "agents": fixtures["data"]["sidecar"]["agents"]}) == [
        ".agents['gl-unknown-mask'].mask: 'ssn' has no pattern in mask_patterns",
        ".agents['gl-bad-limits'].timeout_s: a number of seconds, more than 0 and at most 86400",
        ".agents['gl-bad-limits'].max_request_bytes: a whole number of bytes (0 to 10^12)",
        ".agents['gl-bad-limits'].max_tokens: null or a whole number of tokens (0 to 10^12)",
    ]


def test_sidecar_data_check_refuses_every_malformed_entry() -> None:
    """Everything the run-time check lets through but the sidecar should not run with."""
    for agent, entry in AGENT_ENTRIES.items():
        problems = sidecar_data_problems({**STOCK, "agents": {agent: entry}})
        assert (problems == []) == (agent in WELL_FORMED), (agent, problems)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"defaults": {**STOCK["defaults"], "max_token": 5}}, ".defaults.max_token: unknown key"),
        ({"defaults": {"timeout_s": 30}}, ".defaults.mask: missing"),
        ({"defaults": None}, ".defaults: missing, or not an object"),
        ({"agents": []}, ".agents: not an object"),
        ({"extra": 1}, ".extra: unknown key"),
        ({"mask_patterns": {**STOCK["mask_patterns"], "x": "(?<=a"}}, "not a Python regular"),
        ({"mask_patterns": {**STOCK["mask_patterns"], "x": "a*"}}, "matches the empty string"),
        ({"mask_patterns": {**STOCK["mask_patterns"], "x": ""}}, "a non-empty Python regular"),
        ({"mask_patterns": {**STOCK["mask_patterns"], "X": "a"}}, "['X']: mask names are"),
        ({"mask_patterns": {"email": STOCK["mask_patterns"]["email"]}}, "'iban' has no pattern"),
        ({"agents": {"a": {"mask_patterns": {"n": 1}}}}, "['n']: a non-empty Python regular"),
        ({"agents": {"a": {"timeout_s": True}}}, ".agents['a'].timeout_s: a number of seconds"),
        ({"agents": {"a": {"max_response_bytes": 10**13}}}, "max_response_bytes: a whole number"),
        ({"defaults": {**DEFAULTS, "timeout_s": 86401}}, ".defaults.timeout_s: a number of sec"),
        ({"defaults": {**DEFAULTS, "max_request_bytes": 1.5}}, "request_bytes: a whole number"),
        ({"defaults": {**DEFAULTS, "max_tokens": "5"}}, ".defaults.max_tokens: null or a whole"),
        ({"defaults": {**DEFAULTS, "mask": "email"}}, ".defaults.mask: a list of mask names"),
        ({"defaults": {**DEFAULTS, "mask": ["ssn"]}}, ".defaults.mask: 'ssn' has no pattern"),
        ({"agents": {"a": {"timeout_s": None}}}, ".agents['a'].timeout_s: not null"),
        ({"agents": {"a": {"mask": [1]}}}, ".agents['a'].mask: a list of mask names"),
        ({"agents": {"a": {"max_token": 1}}}, ".agents['a'].max_token: unknown key (mask_pat"),
        ({"agents": {"a": "email"}}, ".agents['a']: not an object"),
        ({"mask_patterns": ["email"]}, ".mask_patterns: not an object"),
    ],
)
def test_sidecar_data_check_problems(change: dict[str, Any], problem: str) -> None:
    problems = sidecar_data_problems({**STOCK, **change})
    assert any(problem in p for p in problems), problems


def test_bundle_build_refuses_bad_sidecar_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(STOCK_DATA_DIR, data)
    bad = {**STOCK, "agents": {"a": {"mask": ["ssn"]}}}
    (data / "greenlang" / "sidecar" / "data.json").write_text(json.dumps(bad))
    with pytest.raises(SidecarDataError, match=r"agents\['a'\]\.mask: 'ssn' has no pattern"):
        bundle_data((data,))
    (data / "greenlang" / "sidecar" / "data.json").unlink()
    with pytest.raises(ValueError, match=r"data\.greenlang\.sidecar: missing"):
        bundle_data((data,))
