"""What a decision obliges the sidecar to do for one call: timeouts, size caps, token cap, masking.

The policy decides (``decision["obligations"]``, built from ``data.greenlang.sidecar``); this
module only reads it. A decision without obligations (an older bundle) or with a limit of the
wrong type gets the stock default for that key, read from the same stock data the bundle ships,
so a malformed value never loosens a limit. A mask the sidecar cannot apply (a name without a
pattern, a malformed entry) raises `ObligationError`: the call is refused, never run unmasked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeGuard

from bundles.layout import STOCK_DATA_DIR

SIDECAR_DATA_FILE = STOCK_DATA_DIR / "greenlang" / "sidecar" / "data.json"

# Used only when the stock data file cannot be read (a broken install): conservative values.
_FALLBACK: dict[str, Any] = {
    "timeout_s": 30,
    "max_request_bytes": 10 * 1024 * 1024,
    "max_response_bytes": 50 * 1024 * 1024,
    "max_tokens": None,
}


class ObligationError(ValueError):
    """The decision asks for masking the sidecar cannot do."""


@dataclass(frozen=True, slots=True)
class Obligations:
    timeout_s: float
    max_request_bytes: int
    max_response_bytes: int
    max_tokens: int | None
    mask: tuple[tuple[str, str], ...]  # (name, Python regex), sorted by name


@cache
def stock() -> Obligations:
    """The stock defaults: data.greenlang.sidecar.defaults with its mask patterns resolved."""
    try:
        data = json.loads(SIDECAR_DATA_FILE.read_text())
        defaults = {**_FALLBACK, **data.get("defaults", {})}
        patterns = data.get("mask_patterns", {})
        names = defaults.get("mask", [])
        mask = tuple(sorted((n, patterns[n]) for n in names if isinstance(patterns.get(n), str)))
    except (OSError, ValueError, AttributeError, TypeError):
        defaults, mask = dict(_FALLBACK), ()
    return Obligations(
        timeout_s=float(defaults["timeout_s"]),
        max_request_bytes=int(defaults["max_request_bytes"]),
        max_response_bytes=int(defaults["max_response_bytes"]),
        max_tokens=defaults["max_tokens"],
        mask=mask,
    )


def _count(value: Any) -> TypeGuard[int]:
    return type(value) is int and value >= 0


def from_decision(decision: dict[str, Any]) -> Obligations:
    """The obligations of ``decision``; stock defaults for what is missing or malformed."""
    raw = decision.get("obligations")
    base = stock()
    if not isinstance(raw, dict):
        return base
    timeout: Any = raw.get("timeout_s")
    if not (type(timeout) in (int, float) and 0 < timeout <= 86400):
        timeout = base.timeout_s
    max_tokens = raw.get("max_tokens", base.max_tokens)
    return Obligations(
        timeout_s=float(timeout),
        max_request_bytes=_pick(raw, "max_request_bytes", base.max_request_bytes),
        max_response_bytes=_pick(raw, "max_response_bytes", base.max_response_bytes),
        max_tokens=max_tokens if max_tokens is None or _count(max_tokens) else base.max_tokens,
        mask=_mask(raw["mask"]) if "mask" in raw else base.mask,
    )


def _pick(raw: dict[str, Any], key: str, default: int) -> int:
    value = raw.get(key)
    return value if _count(value) else default


def _mask(raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list):
        raise ObligationError(f"mask must be a list, got {type(raw).__name__}")
    out = []
    for item in raw:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("name"), str)
            and isinstance(item.get("pattern"), str)
        ):
            raise ObligationError(f"mask entry {item!r} has no usable pattern")
        out.append((item["name"], item["pattern"]))
    return tuple(out)
