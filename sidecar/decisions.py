"""Asking for decisions cheaply without changing them: a short-lived cache and a split query.

A decision is a function of the input and the bundle, plus the engine's clock (certificate
expiry). Calls of one caller differ mostly in ``rate.current``, so the pre-execution decision is
asked as two queries over disjoint policy types whose findings are united — exactly what one
query over all the types returns, because every policy runs on its own:

- the rest (access, compliance, data access, with the obligations): the same for every call of
  the same caller, path and method, so it is reused for ``ttl_s`` (default 1 s) and dropped when
  the engine changes (a new bundle revision);
- the rate part (``rate_limiting``, with the measured rate ``rate.current``): the policies
  declare the counts at which their findings can change (``data.greenlang.rate_bands``,
  bundles/rate_bands.py), and the verdict is reused, like the rest, for every count between
  the same two of them. When a selected policy declares none it is asked on every call.

The cache's only staleness is time: a certificate that expires takes effect up to ``ttl_s``
late — small next to the bundle polling interval that already delays every registry fact.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

Decision = dict[str, Any]
_FINDINGS = ("violations", "warnings")


class DecisionCache:
    """Decisions by key (what the input holds apart from ``now``, see call.Query), kept
    ``ttl_s``, at most ``max_entries`` (LRU)."""

    def __init__(
        self,
        ttl_s: float = 1.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._owner: object | None = None  # the engine the entries came from
        self._entries: OrderedDict[Hashable, tuple[float, Decision]] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, engine: object, key: Hashable) -> Decision | None:
        if engine is not self._owner:
            self._entries.clear()
            self._owner = engine
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, engine: object, key: Hashable, decision: Decision) -> None:
        if self.ttl_s <= 0 or engine is not self._owner:
            return
        self._entries[key] = (self._clock() + self.ttl_s, decision)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def rate_band(bands: Decision, current: int) -> int | None:
    """Which band of ``data.greenlang.rate_bands`` the count falls in (counts of one band get
    the same verdict); None when the policies do not declare their breakpoints."""
    points = bands.get("breakpoints")
    if not isinstance(points, list) or not all(type(p) is int for p in points):
        return None
    return bisect_right(sorted(points), current)


def unite(parts: Iterable[Decision]) -> Decision:
    """One decision from decisions over disjoint policy types (as data.greenlang.decision
    combines policies: sorted findings, deny over warn over allow). The obligations are the
    first part's."""
    parts = list(parts)
    out: Decision = dict(parts[0])
    for name in _FINDINGS:
        found = [f for p in parts for f in p.get(name) or []]
        out[name] = sorted(found, key=lambda f: (f.get("policy_id", ""), f.get("message", "")))
    out["evaluated"] = sorted({e for p in parts for e in p.get("evaluated") or []})
    out["denied_types"] = sorted({t for p in parts for t in p.get("denied_types") or []})
    if out["violations"]:
        out["decision"] = "deny"
    elif out["warnings"]:
        out["decision"] = "warn"
    else:
        out["decision"] = "allow"
    out["allow"] = out["decision"] != "deny"
    return out
