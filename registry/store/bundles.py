"""What the policy bundle is built from and published bundles, on PostgreSQL."""

from __future__ import annotations

from typing import Any

from registry.store.agents import Conn

# Per agent: its team, serving version and every version's status, deprecation notice and best
# certificate.
CATALOG_SQL = """
SELECT a.agent_id, a.current_version, a.owner_team, v.version, v.status,
       v.deprecated_at, v.sunset_at, v.replacement_agent_id, c.certificate_id, c.expires_at
FROM agents a
JOIN agent_versions v ON v.agent_id = a.agent_id
LEFT JOIN LATERAL (
    SELECT certificate_id, expires_at FROM certificates c
    WHERE c.agent_id = v.agent_id AND c.version = v.version
    ORDER BY expires_at DESC LIMIT 1
) c ON true
ORDER BY a.agent_id, v.version
"""


class PgBundles:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def catalog_rows(self) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._conn.fetch(CATALOG_SQL)]

    async def save_upload(
        self, name: str, content: bytes, revision: str, sha256: str, actor: str
    ) -> None:
        await self._conn.execute(
            "INSERT INTO uploaded_bundles (name, content, revision, sha256, uploaded_at,"
            " uploaded_by) VALUES ($1,$2,$3,$4,now(),$5) ON CONFLICT (name) DO UPDATE SET"
            " content = EXCLUDED.content, revision = EXCLUDED.revision, sha256 = EXCLUDED.sha256,"
            " uploaded_at = EXCLUDED.uploaded_at, uploaded_by = EXCLUDED.uploaded_by",
            name,
            content,
            revision,
            sha256,
            actor,
        )

    async def load_upload(self, name: str) -> tuple[str, bytes] | None:
        row = await self._conn.fetchrow(
            "SELECT revision, content FROM uploaded_bundles WHERE name = $1", name
        )
        return (row["revision"], bytes(row["content"])) if row else None
