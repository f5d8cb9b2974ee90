"""sidecar/json_codec.py reads and writes the same documents as the stdlib json, with orjson
where that is safe: texts orjson would read differently (big integers) or refuses (NaN, BOM,
lone surrogates) and documents it would write differently (NaN as null) go to the stdlib."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest

from sidecar import json_codec
from sidecar.masking import Masker, encode_json

TEXTS = [
    b'{"a":1,"b":[1.5,-0.0,"x\\u00e9",null,true],"c":{"d":"e"}}',
    b'{"a":1,"a":2}',  # duplicate keys: the last wins
    b"[123456789012345678901234567890]",  # beyond 64 bits: orjson would read a float
    b"[-9223372036854775809, 18446744073709551616]",
    b"[0.1234567890123456789]",
    b"[NaN, Infinity, -Infinity]",
    b'\xef\xbb\xbf{"bom":1}',
    b'["\\ud800 lone surrogate"]',
    '{"utf16": 1}'.encode("utf-16"),
    b"[1e400]",
]


def same(a: Any, b: Any) -> bool:
    """Equal as documents, NaN included, ints and floats told apart."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize("text", TEXTS)
def test_loads_reads_what_the_stdlib_reads(text: bytes) -> None:
    assert same(json_codec.loads(text), json.loads(text))


@pytest.mark.parametrize("text", [b"", b"{", b'{"a":}', b"\xff\xfe\xfd"])
def test_loads_refuses_what_the_stdlib_refuses(text: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        json_codec.loads(text)


DOCS: list[Any] = [
    {"a": 1, "b": [1.5, -0.0, "x\u00e9\u2028", True, {"c": "d"}]},
    {"n": None, "s": "null"},
    [float("nan"), float("inf")],  # stdlib: NaN, Infinity (orjson would write null)
    [123456789012345678901234567890],
    [1e16, 1e-7, 0.1],
]


@pytest.mark.parametrize("doc", DOCS)
def test_dumps_writes_the_same_document(doc: Any) -> None:
    out = json_codec.dumps(doc)
    assert same(json.loads(out), doc)
    stdlib = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    if not any(isinstance(x, float) for x in (doc if isinstance(doc, list) else [])):
        assert out == stdlib


def test_a_masked_answer_keeps_its_big_integers_exactly() -> None:
    body = b'{"id":123456789012345678901234567890,"mail":"a@b.example","n":null,"x":NaN}'
    doc = json_codec.loads(body)
    masked, count = Masker([("email", r"[\w.]+@[\w.]+")]).mask_value(doc)
    assert count == 1
    out = encode_json(masked)
    assert out.startswith(b'{"id":123456789012345678901234567890,"mail":"[REDACTED:email]"')
    assert out.endswith(b'"n":null,"x":NaN}')


def test_lone_surrogates_are_written_as_escapes() -> None:
    assert encode_json(["\ud800"]) == b'["\\ud800"]'


@pytest.mark.parametrize(("env", "backend"), [("0", "json"), ("1", "orjson")])
def test_the_environment_switch_picks_the_backend(env: str, backend: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from sidecar import json_codec; print(json_codec.backend())"],
        env={"GREENLANG_SIDECAR_ORJSON": env, "PYTHONPATH": "."},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == backend


@pytest.mark.skipif(json_codec.backend() != "orjson", reason="orjson is installed here")
def test_long_digit_runs_inside_strings_stay_on_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    def stdlib(_text: bytes) -> Any:
        raise AssertionError("read by the stdlib")

    monkeypatch.setattr(json_codec.json, "loads", stdlib)
    assert json_codec.loads(b'{"iban":"DE89370400440532013000","n":1}')["n"] == 1
    with pytest.raises(AssertionError):
        json_codec.loads(b'{"id":1234567890123456789012}')
