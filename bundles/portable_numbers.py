"""The numbers both engines read and compare the same way.

regopy 1.5.2 keeps integers as int64 (a larger one silently becomes 0) and cannot parse floats
next to the double limits (1.7976931348623155e308, subnormals such as 1e-310: the whole query
fails); OPA reads any JSON number exactly. Inside these bounds they agree.
"""

from __future__ import annotations

import math

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT_MAX, FLOAT_MIN_NONZERO = 1e308, 1e-307


def number_problem(value: int | float) -> str | None:
    """Why `value` is not portable, or None when it is."""
    if isinstance(value, int):
        return (
            None if INT64_MIN <= value <= INT64_MAX else "does not fit in a signed 64-bit integer"
        )
    if not math.isfinite(value):
        return "is not a finite number"
    if abs(value) > FLOAT_MAX or (value and abs(value) < FLOAT_MIN_NONZERO):
        return "is outside the range both engines read (1e-307 to 1e308)"
    return None
