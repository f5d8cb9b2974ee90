"""How a decision input is put on the wire, identically for every engine.

regopy reads JSON numbers as int64 or double (an integer beyond int64 silently becomes 0) and
OPA reads them as exact decimals; both agree when integers fit in int64 and every float is
written in Python's shortest round-trip form. An integral float is sent as an integer, so
`1.7e18` and `1700000000000000000` compare the same on both. Floats at the very edge of the
double range are refused (regopy cannot parse them). Strings are sent as raw UTF-8:
regopy compares string escapes undecoded, so both sides must spell them the same way (the
compiler writes Rego literals with the same encoder).
"""

from __future__ import annotations

import json
from typing import Any

from bundles.portable_numbers import INT64_MAX, INT64_MIN, number_problem

MAX_DEPTH = 32


class EngineError(Exception):
    """The engine could not produce a decision (not loaded, unreachable, evaluation error)."""


class InputError(EngineError, ValueError):
    """The input cannot be evaluated the same way by every engine."""


def canonical(value: Any, depth: int = 0) -> Any:
    """`value` as plain JSON data, integral floats as ints; InputError for what cannot be."""
    if depth > MAX_DEPTH:
        raise InputError(f"input nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        _check_text(value)
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        problem = number_problem(value)
        if problem:
            raise InputError(f"number {value!r} {problem}")
        if isinstance(value, float) and value.is_integer() and INT64_MIN <= value <= INT64_MAX:
            return int(value)
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError(f"object key {key!r} is not a string")
            _check_text(key)
            out[key] = canonical(item, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [canonical(item, depth + 1) for item in value]
    raise InputError(f"{type(value).__name__} is not JSON data")


def _check_text(text: str) -> None:
    """A string neither engine can be sent: not encodable as UTF-8 (a lone surrogate)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(f"string {text[:40]!r} is not valid Unicode text") from None


def encode_input(value: Any) -> str:
    """The JSON text of a decision input, the same bytes for every engine."""
    return json.dumps(canonical(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode_data(value: Any) -> str:
    """JSON text of bundle data for regopy (raw UTF-8, like the input)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)
