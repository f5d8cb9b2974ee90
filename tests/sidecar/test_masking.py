"""Masking of string values in JSON bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sidecar.masking import Masker, MaskingError, encode_json, masker_for

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}"
IBAN = r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"
PHONE = r"\+[0-9]{1,3}(?:[ -]?[0-9]{2,4}){2,5}"
STOCK = (("email", EMAIL), ("iban", IBAN), ("phone", PHONE))


@pytest.fixture
def masker() -> Masker:
    return Masker(STOCK)


def test_mask_str_each_kind(masker: Masker) -> None:
    assert masker.mask_str("mail jane.doe+x@example.co.uk now") == (
        "mail [REDACTED:email] now",
        1,
    )
    assert masker.mask_str("pay DE89 3704 0044 0532 0130 00 today") == (
        "pay [REDACTED:iban] today",
        1,
    )
    assert masker.mask_str("IBAN GB82WEST12345698765432.") == ("IBAN [REDACTED:iban].", 1)
    assert masker.mask_str("call +49 30 1234 5678") == ("call [REDACTED:phone]", 1)
    assert masker.mask_str("a@b.io, c@d.org") == ("[REDACTED:email], [REDACTED:email]", 2)
    assert masker.mask_str("nothing to see, 42 tCO2e") == ("nothing to see, 42 tCO2e", 0)
    assert masker.mask_str("") == ("", 0)


def test_unmatched_string_is_returned_as_is(masker: Masker) -> None:
    text = "installation report for plant 7"
    assert masker.mask_str(text)[0] is text


def test_overlapping_matches_first_start_wins_then_listed_order() -> None:
    # "+49 30 1234" could be a phone; the email that starts earlier takes its text first.
    m = Masker([("phone", r"\+[0-9 ]{6,}"), ("email", EMAIL), ("word", r"x+y?")])
    assert m.mask_str("+49 30 1234 5678") == ("[REDACTED:phone]", 1)
    # Same start: the earlier listed pattern wins even though the later one is longer.
    m2 = Masker([("short", r"ab"), ("long", r"abcd")])
    assert m2.mask_str("xabcdx") == ("x[REDACTED:short]cdx", 1)
    m3 = Masker([("long", r"abcd"), ("short", r"ab")])
    assert m3.mask_str("xabcdx abx") == ("x[REDACTED:long]x [REDACTED:short]x", 2)


def test_patterns_never_match_inside_a_replacement() -> None:
    m = Masker([("email", EMAIL), ("caps", r"[A-Z]{4,}")])
    assert m.mask_str("jo@ex.com SECRET") == ("[REDACTED:email] [REDACTED:caps]", 2)


def test_patterns_with_groups_backrefs_and_flags() -> None:
    m = Masker(
        [
            ("twice", r"(\w)\1{3,}"),  # backreference
            ("named", r"(?P<id>ID)-(?P<n>\d+)"),
            ("named2", r"(?P<id>REF)/\d+"),  # same group name as another pattern
            ("ci", r"(?i)secret"),  # global inline flag
        ]
    )
    text, n = m.mask_str("aaaa ID-12 REF/9 SeCrEt")
    assert text == "[REDACTED:twice] [REDACTED:named] [REDACTED:named2] [REDACTED:ci]"
    assert n == 4


def test_anchors_see_the_whole_string() -> None:
    m = Masker([("whole", r"^\d{4}$")])
    assert m.mask_str("1234") == ("[REDACTED:whole]", 1)
    assert m.mask_str("12345") == ("12345", 0)
    assert m.mask_value({"a": "1234", "b": "x1234"}) == ({"a": "[REDACTED:whole]", "b": "x1234"}, 1)


def test_empty_matches_are_ignored() -> None:
    m = Masker([("digits", r"\d*")])
    assert m.mask_str("abc") == ("abc", 0)
    assert m.mask_str("a12b") == ("a[REDACTED:digits]b", 1)


def test_custom_replacement_format() -> None:
    m = Masker([("email", EMAIL)], replacement_format="<{name} hidden \\1>")
    assert m.mask_str("x a@b.de") == ("x <email hidden \\1>", 1)
    assert Masker([("email", EMAIL)], "***").mask_str("a@b.de") == ("***", 1)


def test_bad_patterns_are_named() -> None:
    with pytest.raises(MaskingError, match="'broken'"):
        Masker([("email", EMAIL), ("broken", r"([a-z")])
    with pytest.raises(MaskingError, match="replacement format"):
        Masker([("email", EMAIL)], replacement_format="{nope}")
    with pytest.raises(MaskingError, match="replacement format"):
        Masker([("email", EMAIL)], replacement_format="{")
    assert issubclass(MaskingError, ValueError)


def test_mask_value_nested_keys_untouched(masker: Masker) -> None:
    doc: dict[str, Any] = {
        "jane@example.com": "contact",
        "rows": [
            {"email": "bob@example.org", "n": 3, "ok": True, "none": None},
            ["x", "iban DE89370400440532013000", 1.5],
            ("t@e.st",),
        ],
        "plain": "nothing",
    }
    original = json.loads(json.dumps(doc["rows"][:2]))
    masked, n = masker.mask_value(doc)
    assert n == 3
    assert masked == {
        "jane@example.com": "contact",
        "rows": [
            {"email": "[REDACTED:email]", "n": 3, "ok": True, "none": None},
            ["x", "iban [REDACTED:iban]", 1.5],
            ("[REDACTED:email]",),
        ],
        "plain": "nothing",
    }
    assert doc["rows"][:2] == original  # the input is not modified


def test_mask_value_shares_unchanged_containers(masker: Masker) -> None:
    clean = {"a": ["x", {"b": "y"}]}
    doc = {"clean": clean, "dirty": ["me@x.org"]}
    masked, n = masker.mask_value(doc)
    assert n == 1
    assert masked["clean"] is clean
    same, n = masker.mask_value(clean)
    assert same is clean and n == 0
    for scalar in (1, 2.5, None, True):
        assert masker.mask_value(scalar) == (scalar, 0)


def test_mask_json_masks_and_reencodes(masker: Masker) -> None:
    body = json.dumps(
        {
            "user": {"mail": "Jürgen <jurgen@example.de>"},
            "iban": "DE89 3704 0044 0532 0130 00",
            "tokens": 12,
            "ratio": 0.25,
            "keys": {"x@y.zz": 1},
        },
        ensure_ascii=False,
    ).encode()
    out = masker.mask_json(body)
    assert out is not None
    assert json.loads(out) == {
        "user": {"mail": "Jürgen <[REDACTED:email]>"},
        "iban": "[REDACTED:iban]",
        "tokens": 12,
        "ratio": 0.25,
        "keys": {"x@y.zz": 1},
    }
    assert "Jürgen".encode() in out  # UTF-8, not \u escapes
    assert b", " not in out and b": " not in out  # compact


def test_mask_json_sees_through_json_escapes(masker: Masker) -> None:
    body = b'{"a": "jane\\u0040example.com", "b": "x\\/y", "c": "line\\nbob@ex.org"}'
    out = masker.mask_json(body)
    assert out is not None
    assert json.loads(out) == {"a": "[REDACTED:email]", "b": "x/y", "c": "line\n[REDACTED:email]"}


def test_mask_json_top_level_values(masker: Masker) -> None:
    assert masker.mask_json(b'"a@b.de"') == b'"[REDACTED:email]"'
    assert masker.mask_json(b'["a@b.de", 1]') == b'["[REDACTED:email]",1]'
    assert masker.mask_json(b"42") is None
    assert masker.mask_json(b"null") is None
    assert masker.mask_json(b'"clean"') is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"plain text with jane@example.com",
        b"<html>jane@example.com</html>",
        b'{"a": "jane@example.com"',  # truncated
        b'{"a": "jane@example.com"} trailing',
        b"\xff\xfe\x00garbage",
        b"\x80jane@example.com",
    ],
)
def test_non_json_bodies_give_none(masker: Masker, body: bytes) -> None:
    assert masker.mask_json(body) is None


def test_unmatched_json_gives_none_so_bytes_pass_unchanged(masker: Masker) -> None:
    # Odd but valid formatting that a re-encode would change: the caller must get None.
    body = b'{ "b" : 1.50 ,\n  "a":[ "x" , 1e3 ], "b": 2, "s": "caf\\u00e9" }'
    assert masker.mask_json(body) is None


def test_utf16_and_bom_bodies_are_masked(masker: Masker) -> None:
    doc = {"mail": "a@b.de"}
    for body in (
        json.dumps(doc).encode("utf-16"),
        b"\xef\xbb\xbf" + json.dumps(doc).encode(),
    ):
        out = masker.mask_json(body)
        assert out is not None
        assert json.loads(out) == {"mail": "[REDACTED:email]"}


def test_lone_surrogates_do_not_break_reencoding(masker: Masker) -> None:
    out = masker.mask_json(b'{"a": "\\ud800", "b": "a@b.de"}')
    assert out is not None
    assert json.loads(out) == {"a": "\ud800", "b": "[REDACTED:email]"}


def test_deep_nesting_is_an_error_not_a_leak(masker: Masker) -> None:
    body = b'{"a":' * 100_000 + b'"a@b.de"' + b"}" * 100_000
    with pytest.raises(MaskingError, match="deep"):
        masker.mask_json(body)
    shallow = b"[" * 50 + b'"a@b.de"' + b"]" * 50
    assert masker.mask_json(shallow) == b"[" * 50 + b'"[REDACTED:email]"' + b"]" * 50


def test_no_patterns_masks_nothing() -> None:
    m = Masker([])
    assert m.mask_json(b'{"a": "a@b.de"}') is None
    assert m.mask_str("a@b.de") == ("a@b.de", 0)


def test_masker_for_is_cached() -> None:
    a = masker_for((("email", EMAIL),))
    b = masker_for((("email", EMAIL),))
    assert a is b
    assert masker_for((("email", EMAIL), ("iban", IBAN))) is not a
    with pytest.raises(MaskingError):
        masker_for((("bad", "("),))


def test_mask_value_deep_nesting_is_a_masking_error(masker: Masker) -> None:
    doc: Any = "a@b.de"
    for _ in range(5000):
        doc = [doc]
    with pytest.raises(MaskingError, match="deep"):
        masker.mask_value(doc)


def test_encode_json_handles_lone_surrogates() -> None:
    assert encode_json({"a": "é", "b": [1, 2.5]}) == '{"a":"é","b":[1,2.5]}'.encode()
    assert encode_json({"a": "\ud800"}) == b'{"a":"\\ud800"}'


def test_mask_owned_masks_a_decoded_document_in_place(masker: Masker) -> None:
    text = '{"a@b.de": ["x", {"iban": "DE89370400440532013000", "n": 1.5}], "m": "c@d.org"}'
    expected, count = masker.mask_value(json.loads(text))
    doc = json.loads(text)
    masked, n = masker.mask_owned(doc)
    assert (masked, n) == (expected, count) and n == 2
    assert masked is doc  # masked where it lies, nothing copied
    assert masker.mask_owned("mail a@b.de") == ("mail [REDACTED:email]", 1)
    assert masker.mask_owned(42) == (42, 0)
    deep: Any = ["a@b.de"]
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(MaskingError, match="deep"):
        masker.mask_owned(deep)
