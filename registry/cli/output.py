"""Plain-text tables for people; scripts use --output json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in headers], *[[("" if c is None else str(c)) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_agent(entry: dict[str, Any]) -> None:
    print(
        f"{entry['agent_id']}  {entry['name']}  (team {entry['owner_team']}, type {entry['type']})"
    )
    print(f"current version {entry['current_version']}  status {entry['status']}")
    scope = ", ".join(entry["regulatory_scope"]) or "-"
    print(f"scope: {scope}   tags: {', '.join(entry['tags']) or '-'}")
    print(entry["description"])
    print()
    rows = [
        (
            v["version"],
            v["status"],
            "yes" if v["certified"] else "no",
            v["certificate_id"],
            (v["artifact_sha256"] or "")[:12],
            v["created_at"][:19],
        )
        for v in entry["versions"]
    ]
    print(table(["VERSION", "STATUS", "CERTIFIED", "CERTIFICATE", "ARTIFACT", "CREATED"], rows))


def print_search(result: dict[str, Any]) -> None:
    rows = [
        (
            a["agent_id"],
            a["current_version"],
            a["status"],
            a["owner_team"],
            ",".join(a["regulatory_scope"]),
            a["name"],
        )
        for a in result["agents"]
    ]
    print(table(["AGENT", "VERSION", "STATUS", "TEAM", "SCOPE", "NAME"], rows))
    shown = len(result["agents"])
    print(
        f"\n{shown} of {result['total']} (page {result['page']}, page size {result['page_size']})"
    )
