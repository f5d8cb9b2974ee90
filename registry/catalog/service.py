"""Registry operations. Each mutation is one transaction that also writes its audit event and an
outbox row for the search index; authorisation and lifecycle rules are checked inside it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from registry.artifacts.port import StoredArtifact
from registry.audit.chain import AuditRecord
from registry.auth.models import Role
from registry.auth.principal import Context, Principal
from registry.catalog import lifecycle
from registry.catalog.models import (
    AgentStatus,
    AgentVersion,
    Certificate,
    CertificateRequest,
    IssuedCertificate,
    RegistryEntry,
    StatusChange,
)
from registry.catalog.reads import CatalogReads
from registry.catalog.spec import AgentSpec
from registry.errors import (
    CertificateRequired,
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from registry.lifecycle.models import Desired
from registry.store.port import NewVersion, Session


@dataclass(frozen=True)
class UploadedFile:
    """A request body part already spooled to disk, with its measured digest."""

    path: Path
    sha256: str
    size: int


def _now() -> datetime:
    return datetime.now(UTC)


def _may_publish(principal: Principal, team: str) -> bool:
    if principal.role is Role.ADMIN:
        return True
    return principal.role is Role.PUBLISHER and principal.team == team


def _require_role(principal: Principal, roles: set[Role], what: str) -> None:
    if principal.role not in roles:
        allowed = " or ".join(sorted(r.value for r in roles))
        raise Forbidden(f"{what} needs role {allowed}; token has role {principal.role.value}")


APPROVERS = {Role.APPROVER, Role.ADMIN}


class RegistryService(CatalogReads):
    # -- registration ------------------------------------------------------------------------

    async def register(
        self,
        ctx: Context,
        spec: AgentSpec,
        artifact: UploadedFile | None = None,
        certificate_id: str | None = None,
    ) -> tuple[RegistryEntry, bool]:
        """Register a new agent or version; returns the entry and whether the agent is new."""
        team = spec.metadata.team
        if not _may_publish(ctx.principal, team):
            raise Forbidden(f"registering needs role publisher of team {team!r} or admin")
        if await self.store.versions.exists(spec.agent_id, spec.version):
            raise Conflict(f"{spec.agent_id} {spec.version} is already registered")
        stored = await self._store_artifact(artifact)
        try:
            async with self.store.transaction() as tx:
                if stored and artifact:
                    await self._pin_blob(tx, stored, artifact)
                created = await self._lock_or_create_agent(tx, spec, ctx)
                status = await self._initial_status(tx, spec, certificate_id)
                await self._insert_version(tx, spec, status, stored, certificate_id, ctx)
                if not created and status is AgentStatus.ACTIVE:
                    await tx.agents.make_current(spec.agent_id, spec.version, _now())
                entry = await tx.agents.entry(spec.agent_id)
                assert entry is not None
                await self._record(
                    tx,
                    ctx,
                    "agent.register" if created else "version.register",
                    f"{spec.agent_id}@{spec.version}",
                    spec.agent_id,
                    after={
                        "version": spec.version,
                        "status": status.value,
                        "spec_hash": spec.spec_hash(),
                    },
                )
        except BaseException:
            if stored:
                await self._drop_unreferenced_blob(stored)
            raise
        await self._committed(spec.agent_id)
        return entry, created

    async def _store_artifact(self, artifact: UploadedFile | None) -> StoredArtifact | None:
        if artifact is None:
            return None
        return await self.artifacts.put_file(artifact.path, artifact.sha256, artifact.size)

    # Blobs are shared by content. A registration holds the blob's lock until it commits its
    # reference; a failed one deletes the blob only when, under that lock, nothing refers to it.

    async def _pin_blob(self, tx: Session, stored: StoredArtifact, artifact: UploadedFile) -> None:
        await tx.versions.lock_artifact(stored.sha256)
        if not await self.artifacts.exists(stored.uri):  # removed by a failed twin meanwhile
            await self.artifacts.put_file(artifact.path, artifact.sha256, artifact.size)

    async def _drop_unreferenced_blob(self, stored: StoredArtifact) -> None:
        async with self.store.transaction() as tx:
            await tx.versions.lock_artifact(stored.sha256)
            if not await tx.versions.artifact_referenced(stored.sha256):
                await self.artifacts.delete(stored.uri)

    async def _lock_or_create_agent(self, tx: Session, spec: AgentSpec, ctx: Context) -> bool:
        """Lock the agent row, creating it if absent; True when this call created it."""
        if await tx.agents.insert_if_absent(spec, _now()):
            return True
        row = await tx.agents.lock(spec.agent_id)
        assert row is not None  # the insert found it
        if row.deleted_at is not None:
            raise Conflict(f"agent {spec.agent_id!r} was deleted; register it under a new id")
        if row.owner_team != spec.metadata.team:
            raise Conflict(
                f"agent {spec.agent_id!r} belongs to team {row.owner_team!r}, "
                f"the spec says {spec.metadata.team!r}"
            )
        if not _may_publish(ctx.principal, row.owner_team):
            raise Forbidden(f"agent {spec.agent_id!r} belongs to another team")
        return False

    async def _initial_status(
        self, tx: Session, spec: AgentSpec, certificate_id: str | None
    ) -> AgentStatus:
        if certificate_id is None:
            return AgentStatus.DRAFT
        cert = await tx.certificates.get(certificate_id)
        if cert is None:
            raise ValidationFailed(f"certificate {certificate_id!r} does not exist")
        if (cert.agent_id, cert.version) != (spec.agent_id, spec.version):
            raise ValidationFailed(
                f"certificate {certificate_id!r} is for {cert.agent_id} {cert.version}, "
                f"not {spec.agent_id} {spec.version}"
            )
        return lifecycle.initial_status(cert.valid)

    async def _insert_version(
        self,
        tx: Session,
        spec: AgentSpec,
        status: AgentStatus,
        stored: StoredArtifact | None,
        certificate_id: str | None,
        ctx: Context,
    ) -> None:
        new = NewVersion(
            spec=spec,
            status=status,
            artifact_uri=stored.uri if stored else None,
            artifact_sha256=stored.sha256 if stored else None,
            artifact_size=stored.size if stored else None,
            certificate_id=certificate_id,
            created_at=_now(),
            created_by=ctx.principal.actor,
        )
        if not await tx.versions.insert(new):
            raise Conflict(f"{spec.agent_id} {spec.version} is already registered")

    async def _record(
        self,
        tx: Session,
        ctx: Context,
        action: str,
        target: str,
        agent_id: str | None,
        before: object = None,
        after: object = None,
        reason: str | None = None,
    ) -> None:
        """Audit event plus search outbox row, in the caller's transaction."""
        await tx.audit.append(
            AuditRecord(
                actor=ctx.principal.actor,
                action=action,
                target=target,
                agent_id=agent_id,
                before=before,
                after=after,
                reason=reason,
                request_id=ctx.request_id,
            )
        )
        if agent_id is not None:
            await tx.outbox.enqueue(agent_id)

    # -- lifecycle ---------------------------------------------------------------------------

    async def change_status(
        self,
        ctx: Context,
        agent_id: str,
        version: str,
        change: StatusChange,
        if_match: int | None = None,
    ) -> AgentVersion:
        _require_role(ctx.principal, APPROVERS, "changing a version's status")
        async with self.store.transaction() as tx:
            row = await tx.versions.lock(agent_id, version)
            if row is None:
                await self.get_version(agent_id, version)  # raises the precise 404
                raise NotFound(f"agent {agent_id!r} has no version {version!r}")
            if if_match is not None and if_match != row.row_version:
                raise PreconditionFailed(
                    f"{agent_id} {version} changed since you read it "
                    f"(row_version {row.row_version}, If-Match {if_match})"
                )
            certified = await tx.certificates.valid_for(agent_id, version)
            self._check_transition(row.status, change.status, certified, ctx.principal.role)
            if change.status is AgentStatus.RETIRED:
                await self._refuse_live(tx, agent_id, version)
            now = _now()
            await tx.versions.set_status(agent_id, version, change.status, change.reason, now)
            if lifecycle.moves_current_version(change.status):
                await tx.agents.make_current(agent_id, version, now)
            await self._record(
                tx,
                ctx,
                "version.status",
                f"{agent_id}@{version}",
                agent_id,
                before={"status": row.status.value},
                after={"status": change.status.value},
                reason=change.reason,
            )
        await self._committed(agent_id)
        return await self.get_version(agent_id, version)

    @staticmethod
    async def _refuse_live(tx: Session, agent_id: str, version: str | None = None) -> None:
        """A version (or agent) is never retired under a deployment meant to run: undeploy
        first, or use the lifecycle retire with undeploy (stopping ones do not count)."""
        live = [
            d
            for d in await tx.deployments.live_for(agent_id, version)
            if d.desired is Desired.RUNNING
        ]
        if live:
            ids = [d.deployment_id for d in live]
            what = f"{agent_id} {version}" if version else agent_id
            raise Conflict(
                f"{what} has {len(ids)} live deployment(s) ({', '.join(ids)}); undeploy them"
                " first, or retire with undeploy",
                deployments=ids,
            )

    @staticmethod
    def _check_transition(
        current: AgentStatus, target: AgentStatus, certified: bool, role: Role
    ) -> None:
        try:
            lifecycle.check_transition(current, target, certified=certified, role=role)
        except lifecycle.TransitionRefused as refused:
            extras = {"current_status": current.value, "allowed_transitions": list(refused.allowed)}
            cls = {
                "forbidden": Forbidden,
                "certificate-required": CertificateRequired,
            }.get(refused.kind, InvalidTransition)
            raise cls(refused.detail, **extras) from None

    async def delete_agent(self, ctx: Context, agent_id: str, reason: str) -> RegistryEntry:
        """Soft delete: retire every version; rows and history stay."""
        _require_role(ctx.principal, APPROVERS, "deleting an agent")
        async with self.store.transaction() as tx:
            row = await tx.agents.lock(agent_id)
            if row is None:
                raise NotFound(f"agent {agent_id!r} is not registered")
            if row.deleted_at is not None:
                raise Conflict(f"agent {agent_id!r} is already deleted")
            await self._refuse_live(tx, agent_id)
            before = await tx.versions.statuses(agent_id)
            now = _now()
            await tx.versions.retire_all(agent_id, reason or "agent deleted", now)
            await tx.agents.mark_deleted(agent_id, now)
            await self._record(
                tx,
                ctx,
                "agent.delete",
                agent_id,
                agent_id,
                before=before,
                after={v: "retired" for v in before},
                reason=reason,
            )
        await self._committed(agent_id)
        return await self.get_agent(agent_id)

    # -- certificates ------------------------------------------------------------------------

    async def issue_certificate(self, ctx: Context, req: CertificateRequest) -> Certificate:
        _require_role(ctx.principal, APPROVERS, "issuing certificates")
        cert_id = (
            f"CERT-{req.agent_id.upper()}-{req.version.upper()}-{secrets.token_hex(4).upper()}"
        )
        async with self.store.transaction() as tx:
            await tx.certificates.insert(
                IssuedCertificate(
                    certificate_id=cert_id,
                    agent_id=req.agent_id,
                    version=req.version,
                    issuer=req.issuer,
                    issued_at=_now(),
                    expires_at=req.expires_at,
                    issued_by=ctx.principal.actor,
                )
            )
            await self._record(
                tx,
                ctx,
                "certificate.issue",
                cert_id,
                req.agent_id,
                after=req.model_dump(mode="json"),
            )
        await self._committed(req.agent_id)
        return await self.get_certificate(cert_id)
