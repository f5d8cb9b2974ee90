"""Deprecation headers from the catalog's notice of a version (RFC 9745, RFC 8594, RFC 5829)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from registry.control_plane.bundle import catalog
from sidecar.deprecation import Notice, headers, notices
from sidecar.policy_source import BundleFacts

S = 1_000_000_000
DEPRECATED = 1_764_547_200 * S  # 2025-12-01T00:00:00Z
SUNSET = 1_769_904_000 * S  # 2026-02-01T00:00:00Z
REGISTRY = "https://registry.example:8700"


def test_deprecation_sunset_and_successor() -> None:
    notice = Notice(DEPRECATED, SUNSET, "gl-cbam-v3")
    assert headers(notice, REGISTRY + "/") == (
        ("Deprecation", "@1764547200"),
        ("Sunset", "Sun, 01 Feb 2026 00:00:00 GMT"),
        ("Link", f'<{REGISTRY}/api/v1/agents/gl-cbam-v3>; rel="successor-version"'),
    )
    sunset = dict(headers(notice))["Sunset"]
    assert parsedate_to_datetime(sunset) == datetime(2026, 2, 1, tzinfo=UTC)


def test_deprecation_without_sunset_or_replacement() -> None:
    assert headers(Notice(DEPRECATED + S // 2)) == (("Deprecation", "@1764547200"),)


def test_sunset_without_replacement() -> None:
    assert [name for name, _ in headers(Notice(DEPRECATED, SUNSET))] == ["Deprecation", "Sunset"]


def test_successor_without_a_registry_is_a_relative_reference() -> None:
    [link] = [v for n, v in headers(Notice(DEPRECATED, None, "gl-next")) if n == "Link"]
    assert link == '</api/v1/agents/gl-next>; rel="successor-version"'


def test_a_replacement_cannot_break_out_of_the_link() -> None:
    [link] = [v for n, v in headers(Notice(DEPRECATED, None, 'x>; rel="a", <y')) if n == "Link"]
    assert link == '</api/v1/agents/x%3E%3B%20rel%3D%22a%22%2C%20%3Cy>; rel="successor-version"'


def test_a_sunset_before_the_deprecation_moves_the_deprecation_back() -> None:
    """RFC 9745 §4: the Sunset must not be earlier than the Deprecation."""
    got = dict(headers(Notice(SUNSET, DEPRECATED)))
    assert got == {"Deprecation": "@1764547200", "Sunset": "Mon, 01 Dec 2025 00:00:00 GMT"}


@pytest.mark.parametrize(
    "facts",
    [
        {},
        {"status": "DEPRECATED"},
        {"deprecated_at": None},
        {"deprecated_at": "2025-12-01"},
        {"deprecated_at": 1.5e18},
        {"deprecated_at": True},
        {"deprecated_at": 2**63},
    ],
)
def test_no_notice_without_an_integer_deprecation_time(facts: dict[str, Any]) -> None:
    assert Notice.of(facts) is None


def test_malformed_sunset_and_replacement_are_left_out() -> None:
    facts = {"deprecated_at": DEPRECATED, "sunset_at": "soon", "replacement": ""}
    assert Notice.of(facts) == Notice(DEPRECATED)
    assert Notice.of(facts | {"sunset_at": 10**30}) == Notice(DEPRECATED)  # no header for it


def test_notices_of_a_catalog_per_version_and_flat() -> None:
    agents = {
        "a": {
            "current_version": "2.0.0",
            "versions": {
                "2.0.0": {"status": "ACTIVE"},
                "1.0.0": {"status": "DEPRECATED", "deprecated_at": DEPRECATED, "sunset_at": None},
            },
        },
        "flat": {"version": "1.0.0", "deprecated_at": DEPRECATED, "replacement": "a"},
        "broken": "not an object",
    }
    assert notices(agents) == {
        ("a", "1.0.0"): Notice(DEPRECATED),
        ("flat", "1.0.0"): Notice(DEPRECATED, None, "a"),
    }


def row(version: str, **extra: Any) -> dict[str, Any]:
    """A CATALOG_SQL row; the lifecycle columns only where given."""
    return {
        "agent_id": "gl-x",
        "current_version": "2.0.0",
        "owner_team": "x",
        "version": version,
        "status": "deprecated" if extra else "active",
        "certificate_id": None,
        "expires_at": None,
    } | extra


def test_the_registry_catalog_carries_the_notice_to_the_sidecar() -> None:
    """registry catalog() -> bundle data -> the sidecar's facts: the data contract end to end."""
    rows = [
        row("2.0.0"),
        row(
            "1.0.0",
            deprecated_at=datetime(2025, 12, 1, tzinfo=UTC),
            sunset_at=datetime(2026, 2, 1, 0, 0, 0, 500, tzinfo=UTC),
            replacement_agent_id="gl-y",
        ),
        row(
            "0.9.0",
            deprecated_at=datetime(2025, 12, 1, tzinfo=UTC),
            sunset_at=None,
            replacement_agent_id=None,
        ),
    ]
    agents = catalog(rows)  # type: ignore[arg-type]  # dicts stand in for asyncpg Records
    assert agents["gl-x"]["versions"]["1.0.0"] == {
        "status": "DEPRECATED",
        "certificate_id": None,
        "certificate_expires_at": None,
        "deprecated_at": DEPRECATED,
        "sunset_at": SUNSET + 500_000,
        "replacement": "gl-y",
    }
    assert "deprecated_at" not in agents["gl-x"]["versions"]["2.0.0"]  # rows without columns
    facts = BundleFacts.from_data({"catalog": {"agents": agents}})
    assert facts.notices == {
        ("gl-x", "1.0.0"): Notice(DEPRECATED, SUNSET + 500_000, "gl-y"),
        ("gl-x", "0.9.0"): Notice(DEPRECATED),
    }
