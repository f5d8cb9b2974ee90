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
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from kernel.ttl_cache import TtlCache

Decision = dict[str, Any]
_FINDINGS = ("violations", "warnings")


class DecisionCache:
    """Decisions by key (what the input holds apart from ``now``, see call.Query), kept
    ``ttl_s`` in a kernel TtlCache (at most ``max_entries``, oldest write dropped first) and
    dropped whole when the engine changes: entries belong to the engine they came from."""

    def __init__(
        self,
        ttl_s: float = 1.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self._owner: object | None = None  # the engine the entries came from
        self._entries: TtlCache[Hashable, Decision] = TtlCache(ttl_s, max_entries, clock)

    @property
    def hits(self) -> int:
        return self._entries.hits

    @property
    def misses(self) -> int:
        return self._entries.misses

    def get(self, engine: object, key: Hashable) -> Decision | None:
        if engine is not self._owner:
            self._entries.clear()
            self._owner = engine
        return self._entries.get(key)

    def put(self, engine: object, key: Hashable, decision: Decision) -> None:
        if engine is self._owner:
            self._entries.put(key, decision)


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
