"""The metadata-store port: one small Protocol per repository, and the store that hands them out.

A mutation runs its repository calls on one `Session` from `MetadataStore.transaction()`, so the
change, its audit event and its outbox row commit together or not at all. The store itself is a
`Session` too, whose calls each run on their own (reads, single statements). The asyncpg adapter
is `registry.store.postgres.PgMetadataStore`; tests/contract/test_metadata_store.py is the
contract every adapter must pass."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from registry.audit.chain import AuditRecord
from registry.audit.models import AuditEvent, AuditFilter
from registry.auth.principal import Principal
from registry.canary.models import Canary, CanaryInterval, CanarySettingsDoc, CanaryStatus
from registry.catalog.models import (
    AgentStatus,
    AgentVersion,
    Certificate,
    CertificateExpiry,
    IssuedCertificate,
    RegistryEntry,
)
from registry.catalog.spec import AgentSpec
from registry.lifecycle.models import (
    Approval,
    Deployment,
    DeploymentStatus,
    Observation,
    Violation,
)
from registry.search.port import SearchDocument
from registry.webhooks.models import Delivery, Subscription

if TYPE_CHECKING:
    from registry.control_plane.policies import PolicyHeader

Row = Mapping[str, Any]


@dataclass(frozen=True)
class AgentLock:
    """An agent row, locked until the transaction ends."""

    owner_team: str
    deleted_at: datetime | None


@dataclass(frozen=True)
class AgentInfo:
    """What the registry's `agent_info` metric says of a live agent (dashboards join on it)."""

    agent_id: str
    team: str
    regulatory_scope: tuple[str, ...]


@dataclass(frozen=True)
class VersionLock:
    """A version row, locked until the transaction ends."""

    status: AgentStatus
    row_version: int


@dataclass(frozen=True)
class NewVersion:
    spec: AgentSpec
    status: AgentStatus
    artifact_uri: str | None
    artifact_sha256: str | None
    artifact_size: int | None
    certificate_id: str | None
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class NewDeployment:
    deployment_id: str
    agent_id: str
    version: str
    environment: str
    replicas: int
    deployer: str
    status: DeploymentStatus  # pending (the policies deny) or progressing (desired running)
    requested_by: str
    replaces: str | None
    violations: Sequence[Violation]
    at: datetime
    traffic_weight: int = 100
    track: str = "stable"  # or "canary": never moves the serving version (010_canary.sql)


@dataclass(frozen=True)
class NewCanary:
    canary_id: str
    agent_id: str
    environment: str
    stable_deployment_id: str
    canary_deployment_id: str
    stable_version: str
    canary_version: str
    settings: CanarySettingsDoc
    step: int
    weight: int
    requested_by: str
    at: datetime


@dataclass(frozen=True)
class CanaryProgress:
    """Everything about a canary that moves; written whole by `CanaryRepository.progress`."""

    status: CanaryStatus
    step: int
    weight: int
    failed_checks: int
    inconclusive_count: int
    interval_started_at: datetime | None
    drain_until: datetime | None
    reason: str

    @classmethod
    def of(cls, canary: Canary) -> CanaryProgress:
        return cls(
            canary.status,
            canary.step,
            canary.weight,
            canary.failed_checks,
            canary.inconclusive_count,
            canary.interval_started_at,
            canary.drain_until,
            canary.reason,
        )


@dataclass(frozen=True)
class InvocationStats:
    """One version's sidecar-reported calls in a time window (`sidecar.invoke` audit events)."""

    calls: int
    errors_5xx: int  # calls whose caller got a 5xx status
    p99_ms: float | None  # None without calls
    denials: int  # calls whose decision was deny


@dataclass(frozen=True)
class PolicyChange:
    """One row of a policy's history."""

    policy_id: str
    revision: int
    change: str  # create | enable | disable
    enabled: bool
    source: str
    actor: str
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class NewSubscription:
    subscription_id: str
    url: str
    agent_id: str | None  # exactly one of agent_id and team
    team: str | None
    events: Sequence[str]  # event names, or "*"
    secret: str
    created_by: str
    at: datetime


@dataclass(frozen=True)
class DueDelivery:
    """A claimed delivery: what the deliverer needs to post it."""

    delivery_id: str
    subscription_id: str
    url: str
    secret: str
    event: str
    agent_id: str | None
    team: str | None
    payload: dict[str, Any]
    occurred_at: datetime
    attempt: int  # this attempt's number, from 1


@dataclass(frozen=True)
class AttemptResult:
    """One attempt's outcome: delivered, to be retried at retry_at, or (neither) given up."""

    delivered: bool
    status: int | None  # HTTP status, None when no response came
    error: str | None
    retry_at: datetime | None


class AgentRepository(Protocol):
    async def insert_if_absent(self, spec: AgentSpec, at: datetime) -> bool:
        """Create the agent from its first version's spec; False when the id exists."""
        ...

    async def lock(self, agent_id: str) -> AgentLock | None: ...

    async def make_current(self, agent_id: str, version: str, at: datetime) -> None:
        """Point the agent at `version` and refresh its card from that version's spec."""
        ...

    async def mark_deleted(self, agent_id: str, at: datetime) -> None: ...

    async def entry(self, agent_id: str) -> RegistryEntry | None: ...

    async def entries(self, agent_ids: Sequence[str]) -> list[RegistryEntry]:
        """Entries in the order given; unknown ids are left out."""
        ...

    async def recently_changed(self, limit: int) -> list[str]:
        """Agent ids, most recently changed first."""
        ...

    async def search_documents(self, agent_ids: Sequence[str]) -> list[SearchDocument]: ...

    async def info_labels(self) -> builtins.list[AgentInfo]:
        """Team and regulatory scope of every agent that is not retired, by agent id."""
        ...


class VersionRepository(Protocol):
    async def exists(self, agent_id: str, version: str) -> bool: ...

    async def insert(self, new: NewVersion) -> bool:
        """False when the version exists (the loser of a race learns it here)."""
        ...

    async def get(self, agent_id: str, version: str) -> AgentVersion | None: ...

    async def spec(self, agent_id: str, version: str) -> AgentSpec | None:
        """The spec the version was registered with (its optional runtime section included)."""
        ...

    async def lock(self, agent_id: str, version: str) -> VersionLock | None: ...

    async def set_status(
        self, agent_id: str, version: str, status: AgentStatus, reason: str, at: datetime
    ) -> None:
        """Also bumps row_version, the optimistic-concurrency counter."""
        ...

    async def set_deprecation(
        self,
        agent_id: str,
        version: str,
        sunset_at: datetime,
        replacement_agent_id: str | None,
        reason: str,
        at: datetime,
    ) -> None:
        """Status deprecated with its notice; deprecated_at keeps the first deprecation time.
        Also bumps row_version."""
        ...

    async def sunset_due(self, at: datetime, limit: int) -> list[tuple[str, str]]:
        """(agent id, version) of deprecated versions whose sunset is at or before `at`."""
        ...

    async def statuses(self, agent_id: str) -> dict[str, str]: ...

    async def retire_all(self, agent_id: str, reason: str, at: datetime) -> None: ...

    async def lock_artifact(self, sha256: str) -> None:
        """Serialise registrations sharing a blob until the transaction ends."""
        ...

    async def artifact_referenced(self, sha256: str) -> bool: ...


class CertificateRepository(Protocol):
    async def get(self, certificate_id: str) -> Certificate | None: ...

    async def insert(self, new: IssuedCertificate) -> None: ...

    async def valid_for(self, agent_id: str, version: str) -> bool:
        """An unexpired certificate exists for this version."""
        ...

    async def expiries(self) -> builtins.list[CertificateExpiry]:
        """Every certified version that is not retired, with its latest certificate's expiry."""
        ...


class AuditRepository(Protocol):
    async def append(self, record: AuditRecord) -> str:
        """Chain and store one event (in the caller's transaction); returns its hash."""
        ...

    async def append_new(self, records: list[AuditRecord]) -> int:
        """Chain and store the events whose event_id is not stored yet; returns how many."""
        ...

    async def page(self, f: AuditFilter) -> list[AuditEvent]: ...

    async def chain_after(self, seq: int, limit: int) -> list[dict[str, Any]]:
        """Stored events (JSON decoded) in chain order, for verification."""
        ...

    async def last_bundle_change(self) -> int | None:
        """Sequence number of the newest event that can change the policy bundle."""
        ...


class OutboxRepository(Protocol):
    async def enqueue(self, agent_id: str) -> None: ...

    async def enqueue_all(self) -> int:
        """Queue every agent for re-indexing; returns how many."""
        ...

    async def pending(self, limit: int) -> list[tuple[int, str]]:
        """(row id, agent id) of the oldest pending rows."""
        ...

    async def remove(self, ids: Sequence[int]) -> None: ...


class TokenRepository(Protocol):
    async def insert(self, identity: Principal, token_hash: str) -> None: ...

    async def revoke(self, token_id: str) -> str | None:
        """The revoked token's name; None when no live token has that id."""
        ...

    async def by_hash(self, token_hash: str) -> Principal | None: ...

    async def list_all(self) -> list[dict[str, Any]]: ...

    async def live_bindings(self) -> list[dict[str, Any]]:
        """(name, role, team) of live tokens, oldest first."""
        ...


class PolicyRepository(Protocol):
    async def insert_if_absent(self, header: PolicyHeader, source: str, at: datetime) -> bool:
        """Store revision 1; False when the policy id exists."""
        ...

    async def claim_setup_step(self, step: str, at: datetime) -> bool:
        """Record a once-per-database step (migration 008); False when it was recorded before
        (waits for a concurrent transaction that recorded it to end)."""
        ...

    async def lock(self, policy_id: str) -> dict[str, Any] | None:
        """enabled, revision and source of a policy, locked until the transaction ends."""
        ...

    async def set_enabled(
        self, policy_id: str, enabled: bool, revision: int, at: datetime
    ) -> None: ...

    async def add_history(self, change: PolicyChange) -> None: ...

    async def list_all(self) -> list[dict[str, Any]]: ...

    async def get(self, policy_id: str) -> dict[str, Any] | None: ...

    async def history(self, policy_id: str) -> list[dict[str, Any]]: ...

    async def sources(self) -> list[tuple[str, str, bool]]: ...


class OpaInstanceRepository(Protocol):
    async def upsert(
        self, instance_id: str, labels: Row, bundles: Row, report: Row, at: datetime
    ) -> None:
        """Keep the instance's latest status report."""
        ...

    async def list_all(self) -> list[dict[str, Any]]: ...


class BundleRepository(Protocol):
    async def catalog_rows(self) -> list[dict[str, Any]]:
        """Per agent version: team, serving version, status and best certificate."""
        ...

    async def save_upload(
        self, name: str, content: bytes, revision: str, sha256: str, actor: str
    ) -> None: ...

    async def load_upload(self, name: str) -> tuple[str, bytes] | None: ...


class DeploymentRepository(Protocol):
    async def insert(self, new: NewDeployment) -> bool:
        """False when a live (not stopped) deployment of that version and environment exists."""
        ...

    async def get(self, deployment_id: str) -> Deployment | None: ...

    async def lock(self, deployment_id: str) -> Deployment | None:
        """The deployment, its row locked until the transaction ends."""
        ...

    async def live_for(
        self, agent_id: str, version: str | None = None, environment: str | None = None
    ) -> list[Deployment]:
        """Deployments not stopped, oldest first, narrowed by version and environment."""
        ...

    async def list(
        self,
        agent_id: str | None = None,
        environment: str | None = None,
        status: DeploymentStatus | None = None,
        limit: int = 100,
    ) -> list[Deployment]:
        """Newest first."""
        ...

    async def unfinished(self) -> builtins.list[Deployment]:
        """Every deployment the controller has work for (status not stopped)."""
        ...

    async def add_approval(self, deployment_id: str, approval: Approval) -> bool:
        """False when this approver already approved it."""
        ...

    async def set_decision(
        self,
        deployment_id: str,
        status: DeploymentStatus,
        violations: Sequence[Violation],
        at: datetime,
    ) -> None:
        """After a policy decision: pending with its violations, or progressing (allowed)."""
        ...

    async def request_stop(self, deployment_id: str, reason: str, at: datetime) -> None:
        """desired := stopped (status stopping; a pending one goes straight to stopped)."""
        ...

    async def record_observation(
        self, deployment_id: str, observed: Observation, at: datetime
    ) -> bool:
        """The controller's report: status, instances, endpoint, message; sets ready_at the
        first time it is ready and stopped_at when it reaches stopped. False when ignored: a
        stopped deployment, or a running status observed after a stop was requested."""
        ...

    async def count_live(self, agent_id: str) -> int: ...

    async def set_track(self, deployment_id: str, track: str, at: datetime) -> None:
        """A promoted canary becomes the stable track."""
        ...

    async def set_traffic_weight(self, deployment_id: str, weight: int, at: datetime) -> None:
        """The share of calls (percent) it receives; informational, the canary row decides."""
        ...


class CanaryRepository(Protocol):
    async def insert(self, new: NewCanary) -> bool:
        """False when a canary of that agent and environment is under way (not finished)."""
        ...

    async def get(self, canary_id: str) -> Canary | None:
        """The canary with its intervals, oldest first."""
        ...

    async def lock(self, canary_id: str) -> Canary | None:
        """The canary (without intervals), its row locked until the transaction ends."""
        ...

    async def latest_for(self, agent_id: str, environment: str) -> Canary | None:
        """The newest canary of the agent in that environment, finished or not, with its
        intervals."""
        ...

    async def active_for(self, agent_id: str, environment: str) -> Canary | None:
        """The canary of the agent in that environment that is under way (at most one), without
        intervals: what the route sidecars poll and every promote asks."""
        ...

    async def unfinished(self) -> builtins.list[Canary]:
        """Every canary not promoted or rolled back (no intervals), oldest first."""
        ...

    async def progress(self, canary_id: str, progress: CanaryProgress, at: datetime) -> None:
        """Write the moving parts; a final status also sets finished_at."""
        ...

    async def add_interval(self, canary_id: str, interval: CanaryInterval) -> bool:
        """False (nothing written) when interval number `n` is stored already."""
        ...

    async def invocation_stats(
        self, agent_id: str, environment: str, version: str, since: datetime, until: datetime
    ) -> InvocationStats:
        """Calls of that version reported by its sidecars with since <= time < until."""
        ...


class WebhookRepository(Protocol):
    async def insert_subscription(self, new: NewSubscription) -> None: ...

    async def subscription(self, subscription_id: str) -> Subscription | None:
        """A live (not deleted) subscription, without its secret."""
        ...

    async def subscriptions(
        self,
        agent_id: str | None = None,
        team: str | None = None,
        owner_team: str | None = None,
        limit: int = 100,
    ) -> list[Subscription]:
        """Live subscriptions, newest first; owner_team narrows to what that team manages."""
        ...

    async def delete_subscription(self, subscription_id: str, at: datetime) -> bool:
        """Mark it deleted and give up its unfinished deliveries; False when not live."""
        ...

    async def enqueue_event(
        self, agent_id: str, team: str, event: str, payload: Mapping[str, Any], at: datetime
    ) -> int:
        """In the caller's transaction: one delivery per live subscription to `event` (or to
        '*') of the agent or of its team, due at once; returns how many."""
        ...

    async def claim_due(self, now: datetime, limit: int, lease: float) -> list[DueDelivery]:
        """Claim up to `limit` due deliveries: count the attempt and move next_attempt_at
        `lease` seconds on, so no other deliverer takes them meanwhile (rows locked by another
        claim are skipped). Commits on its own."""
        ...

    async def record_attempt(
        self, delivery_id: str, attempt: int, result: AttemptResult, at: datetime
    ) -> bool:
        """Store the outcome of attempt number `attempt`; False (nothing written) when the
        delivery is final or a later attempt has been claimed since."""
        ...

    async def deliveries(self, subscription_id: str, limit: int = 50) -> list[Delivery]:
        """Newest first."""
        ...


class Session(Protocol):
    """The repositories, all bound to one connection (or to the store for one-off calls)."""

    @property
    def agents(self) -> AgentRepository: ...
    @property
    def versions(self) -> VersionRepository: ...
    @property
    def certificates(self) -> CertificateRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def tokens(self) -> TokenRepository: ...
    @property
    def policies(self) -> PolicyRepository: ...
    @property
    def opa_instances(self) -> OpaInstanceRepository: ...
    @property
    def bundles(self) -> BundleRepository: ...
    @property
    def deployments(self) -> DeploymentRepository: ...
    @property
    def webhooks(self) -> WebhookRepository: ...
    @property
    def canaries(self) -> CanaryRepository: ...


class MetadataStore(Session, Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Session]:
        """One transaction: everything done on the session commits together."""
        ...

    def outbox_drainer(self) -> AbstractAsyncContextManager[Session]:
        """A session holding the outbox drain lock, so one drainer at a time applies rows."""
        ...

    async def ping(self) -> None: ...
