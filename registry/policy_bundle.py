"""The bundle the registry serves to OPA: the hand-written Rego, the policies stored in the
registry (compiled on demand), the stock data, the live agent catalog and the role bindings of
the registry's tokens.

It is rebuilt only when something that can change it happened, i.e. when the newest audit event
other than a decision log or a sidecar event differs from the one the cached bundle was built at
(token creation and revocation are audited, so they count)."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import yaml

from bundles.assemble import ROOTS, bundle_data, bundle_sources
from bundles.bundle import BuiltBundle, BundleError, build_bundle_bytes, read_revision
from bundles.compiler import CompiledPolicies, compile_policies
from bundles.errors import PolicyError
from registry import audit
from registry.errors import Conflict, ServiceUnavailable, ValidationFailed
from registry.models import Role
from registry.policies import PolicyHeader, PolicyStore
from registry.service import Context

BUNDLE_NAME = "greenlang"
NS_PER_S = 1_000_000_000

# Per agent: its team, serving version and every version's status and best certificate.
CATALOG_SQL = """
SELECT a.agent_id, a.current_version, a.owner_team, v.version, v.status,
       c.certificate_id, c.expires_at
FROM agents a
JOIN agent_versions v ON v.agent_id = a.agent_id
LEFT JOIN LATERAL (
    SELECT certificate_id, expires_at FROM certificates c
    WHERE c.agent_id = v.agent_id AND c.version = v.version
    ORDER BY expires_at DESC LIMIT 1
) c ON true
ORDER BY a.agent_id, v.version
"""


def _compile_texts(texts: dict[str, str]) -> CompiledPolicies:
    """Compile YAML texts (name -> text) through the same compiler authors use on files."""
    with tempfile.TemporaryDirectory(prefix="gl-policies-") as tmp:
        for name, text in texts.items():
            (Path(tmp) / f"{name}.yaml").write_text(text, encoding="utf-8")
        return compile_policies([tmp])


def validate_policy(text: str, source: str) -> PolicyHeader:
    """Exactly one valid policy, not clashing with the hand-written ones; ValueError otherwise."""
    try:
        compiled = _compile_texts({source: text})
    except PolicyError as exc:
        raise ValueError(str(exc)) from None
    yaml_policies = [p for p in compiled.policies if p.kind == "yaml"]
    if len(yaml_policies) != 1:
        raise ValueError(f"expected exactly one policy document, found {len(yaml_policies)}")
    meta = yaml_policies[0].meta
    return PolicyHeader(meta.policy_id, meta.type.value, meta.name, meta.enabled)


def _with_enabled(text: str, enabled: bool) -> str:
    """The stored YAML with `enabled` set to the registry's current switch."""
    doc = yaml.safe_load(text)
    doc["enabled"] = enabled
    return yaml.safe_dump(doc, sort_keys=False)


# Registry roles -> the roles bundle policies see. Every binding carries the registry role itself
# (so data.greenlang.rbac may grant it actions) plus the stock policy role it implies: the stock
# rbac data knows `admin` (anything) and `operator` (invoke any agent); a publisher or viewer
# invokes only its own team's agents (rbac owner_team_actions). `service` tokens are machines
# (sidecars, OPAs), not callers of agents, and get no binding.
POLICY_ROLES: dict[Role, tuple[str, ...]] = {
    Role.ADMIN: ("admin",),
    Role.APPROVER: ("approver", "operator"),
    Role.PUBLISHER: ("publisher",),
    Role.VIEWER: ("viewer",),
    Role.SERVICE: (),
}
USERS_SQL = """
SELECT name, role, team FROM api_tokens WHERE revoked_at IS NULL ORDER BY created_at, token_id
"""


def users(rows: list[asyncpg.Record]) -> dict[str, Any]:
    """data.greenlang.users from live tokens: user id = token name; a name with several tokens
    gets the union of their roles and the team of its newest token that has one."""
    bound: dict[str, dict[str, Any]] = {}
    for r in rows:
        roles = POLICY_ROLES.get(Role(r["role"]), ())
        if not roles:
            continue
        entry = bound.setdefault(r["name"], {"roles": [], "team": None})
        entry["roles"] = sorted({*entry["roles"], *roles})
        if r["team"]:
            entry["team"] = r["team"]
    for entry in bound.values():
        if entry["team"] is None:
            del entry["team"]
    return bound


def _ns(when: datetime | None) -> int | None:
    return int(when.timestamp()) * NS_PER_S + when.microsecond * 1000 if when else None


def catalog(rows: list[asyncpg.Record]) -> dict[str, Any]:
    """data.greenlang.catalog.agents in the layout of docs/policies.md (statuses upper case,
    times as epoch nanoseconds). A version with a `deprecated_at` also gets its sunset and
    replacement (rows without those columns are read as not deprecated)."""
    agents: dict[str, Any] = {}
    for r in rows:
        entry = agents.setdefault(
            r["agent_id"],
            {
                "owner_team": r["owner_team"],
                "current_version": r["current_version"],
                "versions": {},
            },
        )
        version = entry["versions"][r["version"]] = {
            "status": r["status"].upper(),
            "certificate_id": r["certificate_id"],
            "certificate_expires_at": _ns(r["expires_at"]),
        }
        if r.get("deprecated_at") is not None:
            version["deprecated_at"] = _ns(r["deprecated_at"])
            version["sunset_at"] = _ns(r.get("sunset_at"))
            version["replacement"] = r.get("replacement_agent_id")
    return agents


# The newest audit event that can change the bundle. The predicate is that of the partial index
# audit_events_bundle_state_v2 (migration 004), verbatim, so the planner can use it.
STATE_SQL = (
    "SELECT seq FROM audit_events WHERE action NOT IN ('opa.decision', 'sidecar.invoke')"
    " ORDER BY seq DESC LIMIT 1"
)


class BundleServer:
    def __init__(self, pool: asyncpg.Pool, policies: PolicyStore):
        self._pool = pool
        self._policies = policies
        self._lock = asyncio.Lock()
        self._cached: tuple[int | None, BuiltBundle] | None = None

    async def _state(self) -> int | None:
        return await self._pool.fetchval(STATE_SQL)

    async def current(self) -> BuiltBundle:
        async with self._lock:
            state = await self._state()
            if self._cached is None or self._cached[0] != state:
                self._cached = (state, await self._build())
            return self._cached[1]

    async def catalog(self) -> dict[str, Any]:
        return catalog(await self._pool.fetch(CATALOG_SQL))

    async def role_bindings(self) -> dict[str, Any]:
        return users(await self._pool.fetch(USERS_SQL))

    async def _build(self) -> BuiltBundle:
        stored = await self._policies.sources()
        rows = await self._pool.fetch(CATALOG_SQL)
        bindings = await self.role_bindings()
        texts = {pid: _with_enabled(text, enabled) for pid, text, enabled in stored}
        try:
            compiled = await asyncio.to_thread(_compile_texts, texts)
            return await asyncio.to_thread(_assemble, compiled, catalog(rows), bindings)
        except (PolicyError, ValueError) as exc:
            raise ServiceUnavailable(f"the bundle cannot be built: {exc}") from None


def _assemble(
    compiled: CompiledPolicies, agents: dict[str, Any], bindings: dict[str, Any]
) -> BuiltBundle:
    """bundles.assemble.assemble, with the role bindings overlaid on the stock users data."""
    data = bundle_data(catalog=agents)
    data["users"] = {**data.get("users", {}), **bindings}
    return build_bundle_bytes(bundle_sources(compiled, data=data), roots=ROOTS)


MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def uploaded_revision(content: bytes) -> str:
    """The revision in an uploaded archive's .manifest; ValueError when it is not a bundle."""
    try:
        return read_revision(content)
    except BundleError as exc:
        raise ValueError(str(exc)) from None


async def store_upload(pool: asyncpg.Pool, ctx: Context, name: str, content: bytes) -> str:
    """Keep a published bundle under `name` (replacing the previous one), audited."""
    if name == BUNDLE_NAME:
        raise Conflict(f"{BUNDLE_NAME!r} is built by the registry; publish under another name")
    try:
        revision = await asyncio.to_thread(uploaded_revision, content)
    except ValueError as exc:
        raise ValidationFailed(f"not an OPA bundle: {exc}") from None
    digest = hashlib.sha256(content).hexdigest()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO uploaded_bundles (name, content, revision, sha256, uploaded_at,"
            " uploaded_by) VALUES ($1,$2,$3,$4,now(),$5) ON CONFLICT (name) DO UPDATE SET"
            " content = EXCLUDED.content, revision = EXCLUDED.revision, sha256 = EXCLUDED.sha256,"
            " uploaded_at = EXCLUDED.uploaded_at, uploaded_by = EXCLUDED.uploaded_by",
            name,
            content,
            revision,
            digest,
            ctx.principal.actor,
        )
        await audit.append(
            conn,
            audit.AuditRecord(
                actor=ctx.principal.actor,
                action="bundle.publish",
                target=f"bundle:{name}",
                after={"revision": revision, "sha256": digest, "size": len(content)},
                request_id=ctx.request_id,
            ),
        )
    return revision


async def load_upload(pool: asyncpg.Pool, name: str) -> tuple[str, bytes] | None:
    row = await pool.fetchrow(
        "SELECT revision, content FROM uploaded_bundles WHERE name = $1", name
    )
    return (row["revision"], bytes(row["content"])) if row else None
