"""The `matches` regex subset: what it refuses, and that OPA and regopy agree on what it allows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import regopy
from hypothesis import given, settings
from hypothesis import strategies as st

from bundles.portable_regex import check_pattern
from tests.policy.opa import OpaServer

ACCEPTED = [
    "^/admin(/|$)",
    "^[a-z0-9-]+$",
    r"^\d{1,9}\.\d{1,9}\.\d{1,9}$",
    "(ab)+",
    "(?:x)",
    "^a*b+",
    "^a{1,16}b{2,}c{0,16}",
    "a{2,3}?",
    r"\bfoo\b",
    "^$",
    r"[a\-z]",
    r"[\d.]+",
    r"^gl-[a-z]+-v\d{1,3}$",
    r"\{\}",
]

REFUSED = {
    "(a+)+": "repeated group",
    "(a|b)*": "repeated group",
    "(?i)abc": "only (...) and (?:...)",
    "(?=a)": "only (...) and (?:...)",
    "(?<n>a)": "only (...) and (?:...)",
    "[]a]": "must be escaped",
    "[[:alpha:]]": "must be escaped",
    "a{2": "must be escaped",
    "a{,2}": "must be escaped",
    "a}": "must be escaped",
    "a{1001}": "above 1000",
    r"^\d+\.\d+\.\d+$": "at most 2 open-ended",
    r"(a)\1": "escape \\1",
    r"\p{L}": "escape \\p",
    r"\Aabc": "escape \\A",
    r"\t": "escape \\t",
    "é": "printable ASCII",
    "a\tb": "printable ASCII",
    "a**": "may not follow another quantifier",
    "*a": "without anything to repeat",
    "(": "unbalanced (",
    "a)": "unbalanced )",
    "[a-": "unterminated character class",
    "[z-a]": "bad character range",
    "x" * 300: "longer than",
    "a*b+": "at most 1 open-ended",
    "a{2,}b+": "at most 1 open-ended",
    "^a*b*c*": "at most 2 open-ended",
    "^a{1,20}b*c{0,1000}": "at most 2 open-ended",
}


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_accepted(pattern: str) -> None:
    check_pattern(pattern)


@pytest.mark.parametrize("pattern", sorted(REFUSED))
def test_refused(pattern: str) -> None:
    with pytest.raises(ValueError) as info:
        check_pattern(pattern)
    assert REFUSED[pattern] in str(info.value)


# Patterns drawn from the accepted grammar, subjects from plain text (lib.plain).
LITERALS = [*"abcxyz019-_/:@ ", r"\.", r"\-", r"\/", r"\(", r"\)", r"\[", r"\{", r"\|"]
CLASSES = ["[a-z]", "[^0-9]", r"[\d.]", "[A-Z0-9_-]", r"[^\s]", "[xyz]"]
ESCAPES = [r"\d", r"\w", r"\s", r"\D", r"\W", r"\S"]
QUANTIFIERS = ["", "", "*", "+", "?", "{2}", "{1,}", "{0,2}", "*?", "+?"]

simple_atom = st.sampled_from(LITERALS + CLASSES + ESCAPES + ["."])
plain_seq = st.lists(simple_atom, min_size=1, max_size=3).map("".join)


@st.composite
def piece(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:  # repeated group without inner quantifiers or |
        return "(" + draw(plain_seq) + ")" + draw(st.sampled_from(QUANTIFIERS))
    if kind == 1:  # alternation in an unrepeated group
        alternatives = draw(st.lists(plain_seq, min_size=2, max_size=3))
        prefix = draw(st.sampled_from(["(", "(?:"]))
        return prefix + "|".join(alternatives) + ")"
    if kind == 2:
        return draw(st.sampled_from([r"\b", r"\B"]))
    return draw(simple_atom) + draw(st.sampled_from(QUANTIFIERS))


def accepted(pattern: str) -> bool:
    try:
        check_pattern(pattern)
    except ValueError:
        return False
    return True


@st.composite
def raw_patterns(draw: st.DrawFn) -> str:
    body = "".join(draw(st.lists(piece(), min_size=1, max_size=4)))
    return draw(st.sampled_from(["", "^"])) + body + draw(st.sampled_from(["", "$"]))


patterns = raw_patterns().filter(accepted)


subjects = st.text(alphabet=st.sampled_from(list("abcxyz0129-_/:@. ()[]{}|AZ\t")), max_size=12).map(
    lambda s: s.replace("\t", " ")
)

PROBE = """package probe

results := [regex.match(c[0], c[1]) | some c in input.cases]
"""


@pytest.fixture(scope="module")
def probe_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpaServer]:
    module = tmp_path_factory.mktemp("probe") / "probe.rego"
    module.write_text(PROBE)
    with OpaServer([module], tmp_path_factory.mktemp("opa-probe")) as server:
        yield server


def regopy_results(cases: list[list[str]]) -> Any:
    interpreter = regopy.Interpreter()
    interpreter.add_module("probe.rego", PROBE)
    interpreter.set_input_term(json.dumps({"cases": cases}, ensure_ascii=False))
    return interpreter.query("x := data.probe.results")[0]["x"]


@settings(max_examples=60, deadline=None, database=None)
@given(cases=st.lists(st.tuples(patterns, subjects), min_size=1, max_size=40))
def test_engines_agree_on_the_subset(cases: list[tuple[str, str]], probe_server: OpaServer) -> None:
    payload = [[p, s] for p, s in cases]
    response = httpx.post(
        f"{probe_server.url}/v1/data/probe/results", json={"input": {"cases": payload}}
    )
    from_opa = response.json()["result"]
    assert regopy_results(payload) == from_opa, payload
