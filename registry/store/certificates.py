"""The certificates repository on PostgreSQL. `valid` is computed by the database clock at read
time, never stored."""

from __future__ import annotations

from registry.catalog.models import Certificate, CertificateExpiry, IssuedCertificate
from registry.store.agents import Conn

# Per version that is not retired, its latest-expiring certificate (the one `certified` reads).
_EXPIRIES_SQL = """
SELECT DISTINCT ON (c.agent_id, c.version) c.agent_id, c.version, c.expires_at
FROM certificates c
JOIN agent_versions v ON v.agent_id = c.agent_id AND v.version = c.version
WHERE v.status <> 'retired'
ORDER BY c.agent_id, c.version, c.expires_at DESC
"""


class PgCertificates:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def get(self, certificate_id: str) -> Certificate | None:
        row = await self._conn.fetchrow(
            "SELECT *, expires_at > now() AS valid FROM certificates WHERE certificate_id = $1",
            certificate_id,
        )
        return Certificate.model_validate(dict(row)) if row else None

    async def insert(self, new: IssuedCertificate) -> None:
        await self._conn.execute(
            "INSERT INTO certificates (certificate_id, agent_id, version, issuer, issued_at,"
            " expires_at, issued_by) VALUES ($1,$2,$3,$4,$5,$6,$7)",
            new.certificate_id,
            new.agent_id,
            new.version,
            new.issuer,
            new.issued_at,
            new.expires_at,
            new.issued_by,
        )

    async def valid_for(self, agent_id: str, version: str) -> bool:
        return bool(
            await self._conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM certificates WHERE agent_id = $1 AND version = $2"
                " AND expires_at > now())",
                agent_id,
                version,
            )
        )

    async def expiries(self) -> list[CertificateExpiry]:
        rows = await self._conn.fetch(_EXPIRIES_SQL)
        return [CertificateExpiry.model_validate(dict(row)) for row in rows]
