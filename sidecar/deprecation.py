"""Deprecation notices: the `Deprecation`, `Sunset` and `Link` headers of a deprecated version.

The registry publishes a deprecated version's dates in the bundle's catalog (`deprecated_at`,
`sunset_at` in epoch ns, `replacement`: docs/policies.md). The sidecar turns them into headers
on every response of that version, its own refusals included: the fields describe the
resource, not the response (RFC 9745 §2), and a refused caller needs the notice most.

- `Deprecation: @<epoch seconds>` (RFC 9745, a structured-field Date);
- `Sunset: <IMF-fixdate>` (RFC 8594), never earlier than the deprecation (RFC 9745 §4: a
  misconfigured earlier sunset moves the deprecation date back to it, not the sunset);
- `Link: <{registry}/api/v1/agents/{replacement}>; rel="successor-version"` (RFC 5829), a
  relative reference when the sidecar does not know the registry.

Calls after the sunset are denied by policy (`compliance-certified-active`), not here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from functools import lru_cache
from typing import Any, Final
from urllib.parse import quote

from aiohttp import web

NS_PER_S: Final = 1_000_000_000
# The catalog keys of a version's notice (also top-level keys of a flat catalog entry).
KEYS: Final = ("deprecated_at", "sunset_at", "replacement")
# Fields the sidecar owns on a deprecated version's responses; an agent's own are replaced.
OWNED: Final = ("Deprecation", "Sunset")
SERVING_VERSION = web.RequestKey("serving_version", str)

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Notice:
    """When a version was (or will be) deprecated, when it goes away, and what replaces it."""

    deprecated_at: int  # epoch ns
    sunset_at: int | None = None  # epoch ns
    replacement: str | None = None  # agent id

    @classmethod
    def of(cls, facts: Mapping[str, Any]) -> Notice | None:
        """The notice in a version's catalog facts; None when it is not deprecated (no
        integer `deprecated_at`). A malformed sunset or replacement is left out."""
        deprecated, sunset, replacement = (facts.get(k) for k in KEYS)
        if (deprecated := _ns(deprecated)) is None:
            return None
        return cls(
            deprecated,
            _ns(sunset),
            replacement if isinstance(replacement, str) and replacement else None,
        )


def _ns(value: Any) -> int | None:
    """An epoch-ns time (an int64, years 1677..2262, like every catalog time), else None."""
    return value if type(value) is int and -(2**63) <= value < 2**63 else None


def notices(agents: Mapping[str, Any]) -> dict[tuple[str, str], Notice]:
    """(agent id, version) -> notice, for every deprecated version of a catalog. A flat entry's
    top-level facts describe its `current_version` (or `version`), as in lib.rego."""
    out: dict[tuple[str, str], Notice] = {}
    for agent_id, entry in agents.items():
        if not isinstance(entry, dict):
            continue
        versions = entry.get("versions")
        listed = versions.items() if isinstance(versions, dict) else ()
        facts = {v: f for v, f in listed if isinstance(f, dict)}
        described = entry.get("current_version", entry.get("version"))
        if isinstance(described, str):
            top = {k: entry[k] for k in KEYS if k in entry}
            facts[described] = top | facts.get(described, {})
        for version, version_facts in facts.items():
            if (notice := Notice.of(version_facts)) is not None:
                out[(agent_id, version)] = notice
    return out


@lru_cache(maxsize=64)
def headers(notice: Notice, registry_url: str | None = None) -> Headers:
    """The response header fields of a notice (memoized: made once per notice, not per call)."""
    sunset = notice.sunset_at
    deprecated = notice.deprecated_at if sunset is None else min(notice.deprecated_at, sunset)
    out = [("Deprecation", f"@{deprecated // NS_PER_S}")]
    if sunset is not None:
        out.append(("Sunset", formatdate(sunset // NS_PER_S, usegmt=True)))
    if notice.replacement is not None:
        base = (registry_url or "").rstrip("/")
        target = f"{base}/api/v1/agents/{quote(notice.replacement, safe='')}"
        out.append(("Link", f'<{target}>; rel="successor-version"'))
    return tuple(out)


NoticeOf = Callable[[str], Notice | None]


class DeprecationHeaders:
    """An `on_response_prepare` hook: the notice's headers on every response of a deprecated
    version (the version the enforcer put in ``request[SERVING_VERSION]``)."""

    def __init__(self, notice_of: NoticeOf, registry_url: str | None = None) -> None:
        self._notice_of = notice_of  # version -> its notice in the current bundle
        self._registry_url = registry_url

    async def __call__(self, request: web.Request, response: web.StreamResponse) -> None:
        version = request.get(SERVING_VERSION)
        notice = self._notice_of(version) if version is not None else None
        if notice is None:
            return
        for name in OWNED:
            response.headers.popall(name, None)
        for name, value in headers(notice, self._registry_url):
            response.headers.add(name, value)
