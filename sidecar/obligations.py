"""What a decision obliges the sidecar to do for one call: timeouts, size caps, token cap, masking.

The policy decides (``decision["obligations"]``, built from ``data.greenlang.sidecar``); this
module reads it through the one model of that data (`bundles.sidecar_data.Obligations`). A
decision without obligations (an older bundle) gets the stock defaults the bundle ships, key by
key for what it leaves out. Obligations the model refuses (a limit of the wrong type, a mask
name without a pattern) raise `ObligationError`: the call is refused, never run unmasked or
with a looser limit.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from pydantic import ValidationError

from bundles.layout import STOCK_DATA_DIR
from bundles.sidecar_data import (
    OBLIGATION_SHAPES,
    Obligations,
    parse_sidecar_data,
    problems,
    stock_obligations,
)

SIDECAR_DATA_FILE = STOCK_DATA_DIR / "greenlang" / "sidecar" / "data.json"

# Used only when the stock data file cannot be read (a broken install): conservative limits.
_FALLBACK = Obligations(
    timeout_s=30,
    max_request_bytes=10 * 1024 * 1024,
    max_response_bytes=50 * 1024 * 1024,
    max_tokens=None,
    mask=(),
)

__all__ = ["ObligationError", "Obligations", "from_decision", "stock"]


class ObligationError(ValueError):
    """The decision asks for something the sidecar cannot enforce."""


@cache
def stock() -> Obligations:
    """The stock defaults: data.greenlang.sidecar.defaults with its mask patterns resolved."""
    try:
        raw = json.loads(SIDECAR_DATA_FILE.read_text(encoding="utf-8"))
        return stock_obligations(parse_sidecar_data(raw))
    except (OSError, ValueError):  # SidecarDataError is a ValueError
        return _FALLBACK


def from_decision(decision: dict[str, Any]) -> Obligations:
    """The obligations of ``decision``, stock defaults for the keys it leaves out."""
    raw = decision.get("obligations")
    if raw is None:
        return stock()
    if not isinstance(raw, dict):
        raise ObligationError("obligations: not an object")
    try:
        return Obligations.model_validate({**dict(stock()), **raw})
    except ValidationError as exc:
        found = problems(exc, OBLIGATION_SHAPES)
        raise ObligationError("; ".join(f"obligations{p}" for p in found)) from None
