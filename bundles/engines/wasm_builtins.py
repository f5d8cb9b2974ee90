"""The host builtins an OPA Wasm module may call back for, with OPA's semantics.

The stock policies need only `time.now_ns`; `time.parse_rfc3339_ns` and `sprintf` are host
builtins too (every other builtin they use is compiled into the module). A builtin that fails
makes its expression undefined, as in OPA (non-strict mode): the functions return None then.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

Builtin = Callable[[int, list[Any]], Any]  # (pinned now_ns, arguments) -> value or None

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-](\d{2}):(\d{2}))\Z"
)
_INT64 = 1 << 63
_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")


def now_ns(now: int, args: list[Any]) -> Any:
    return now


def parse_rfc3339_ns(now: int, args: list[Any]) -> Any:
    """Go's time.Parse(time.RFC3339, s).UnixNano(); None where Go (or OPA) errors."""
    text = args[0]
    if not isinstance(text, str):
        return None
    m = _RFC3339.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not (1 <= month <= 12 and hour < 24 and minute < 60 and second < 60):
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1] if year > 0 else day > 31:
        return None
    offset = 0
    if m.group(8) != "Z":
        off_h, off_m = int(m.group(9)), int(m.group(10))
        if off_h >= 24 or off_m >= 60:
            return None
        offset = (off_h * 3600 + off_m * 60) * (-1 if m.group(8)[0] == "-" else 1)
    fraction = int(((m.group(7) or "") + "000000000")[:9])
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    nanos = (seconds - offset) * 1_000_000_000 + fraction
    return nanos if -_INT64 <= nanos < _INT64 else None


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (any year, as Go counts)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def sprintf(now: int, args: list[Any]) -> Any:
    """Go's fmt.Sprintf as OPA calls it: numbers as big integers or float64, strings as
    strings, anything else as its Rego text. Unknown verbs print Go's %!v(...) marker."""
    fmt, values = args
    if not isinstance(fmt, str) or not isinstance(values, list):
        return None
    out: list[str] = []
    pos = 0
    index = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, precision, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if index >= len(values):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_format(values[index], flags, width, precision, verb))
        index += 1
    out.append(fmt[pos:])
    if index < len(values):
        extra = ", ".join(f"{_go_type(v)}={_text(v)}" for v in values[index:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _format(value: Any, flags: str, width: str | None, precision: str | None, verb: str) -> str:
    spec = f"%{flags}{width or ''}{'.' + precision if precision is not None else ''}"
    if verb in "dxXob" and isinstance(value, int) and not isinstance(value, bool):
        if verb == "b":
            return format(value, "b")
        return (spec + verb) % value
    if verb in "eEfFgG" and isinstance(value, int | float) and not isinstance(value, bool):
        if verb in "gG" and precision is None:
            return _pad(_go_float(float(value)), flags, width)
        return (spec + ("f" if verb == "F" else verb)) % float(value)
    if verb in "sv":
        text = _text(value)
        if precision is not None:
            text = text[: int(precision)]
        return _pad(text, flags, width)
    if verb == "t" and isinstance(value, bool):
        return _pad("true" if value else "false", flags, width)
    if verb == "q" and isinstance(value, str):
        return _pad(json.dumps(value, ensure_ascii=False), flags, width)
    return f"%!{verb}({_go_type(value)}={_text(value)})"


def _pad(text: str, flags: str, width: str | None) -> str:
    if not width:
        return text
    return text.ljust(int(width)) if "-" in flags else text.rjust(int(width))


def _go_float(x: float) -> str:
    """Go's %v for a float64: the shortest digits, exponent form below 1e-4 and from 1e21."""
    if x == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(x)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    e10 = len(text) + exponent - 1
    prefix = "-" if sign else ""
    if -4 <= e10 < 21:
        return prefix + format(Decimal(f"{text}e{exponent}"), "f")
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{prefix}{mantissa}e{'-' if e10 < 0 else '+'}{abs(e10):02d}"


def _text(value: Any) -> str:
    """How OPA prints an argument: strings raw, numbers as written, others as Rego text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _go_type(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "*big.Int"
    if isinstance(value, float):
        return "float64"
    return "ast.Value"


BUILTINS: dict[str, Builtin] = {
    "time.now_ns": now_ns,
    "time.parse_rfc3339_ns": parse_rfc3339_ns,
    "sprintf": sprintf,
}
