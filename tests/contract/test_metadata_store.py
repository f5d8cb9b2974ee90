"""Contract of the metadata-store port (registry/store/port.py): what the registry service, the
control plane and auth rely on from every repository. Runs on each adapter (today: asyncpg on
the real PostgreSQL of tests/conftest.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from registry.audit.chain import AuditRecord, verify_chain
from registry.audit.models import AuditFilter
from registry.auth.models import Role
from registry.auth.principal import Principal
from registry.catalog.models import AgentStatus, IssuedCertificate
from registry.catalog.spec import AgentSpec, validate_spec
from registry.control_plane.policies import PolicyHeader
from registry.lifecycle.models import (
    Approval,
    DeploymentStatus,
    Desired,
    Instance,
    Observation,
    Violation,
)
from registry.store.outbox import RELAY_LOCK
from registry.store.port import MetadataStore, NewDeployment, NewVersion, PolicyChange
from registry.store.postgres import PgMetadataStore

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SHA = "a" * 64


@pytest.fixture(params=["postgres"])
async def store(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> AsyncIterator[MetadataStore]:
    assert request.param == "postgres"
    yield PgMetadataStore(pool)


def spec(agent_id: str = "gl-cbam", version: str = "1.0.0", team: str = "cbam-team") -> AgentSpec:
    return validate_spec(
        {
            "agent_id": agent_id,
            "name": f"{agent_id} {version}",
            "version": version,
            "description": "Embedded emissions of imported goods.",
            "type": "calculator",
            "metadata": {"team": team, "tags": ["cbam"], "regulatory_scope": ["CBAM"]},
        }
    )


def new_version(s: AgentSpec, status: AgentStatus = AgentStatus.DRAFT, sha: str | None = None):
    return NewVersion(
        spec=s,
        status=status,
        artifact_uri=f"file:///blobs/{sha}" if sha else None,
        artifact_sha256=sha,
        artifact_size=3 if sha else None,
        certificate_id=None,
        created_at=NOW,
        created_by="tester",
    )


async def register(store: MetadataStore, s: AgentSpec, sha: str | None = None) -> None:
    async with store.transaction() as tx:
        await tx.agents.insert_if_absent(s, NOW)
        assert await tx.versions.insert(new_version(s, sha=sha))


def certificate(cert_id: str, agent_id: str, version: str, expires: datetime) -> IssuedCertificate:
    return IssuedCertificate(
        certificate_id=cert_id,
        agent_id=agent_id,
        version=version,
        issuer="tüv",
        issued_at=NOW,
        expires_at=expires,
        issued_by="approver",
    )


def record(event_id: str, action: str = "test.event") -> AuditRecord:
    return AuditRecord(actor="t", action=action, target="x", after={"n": 1}, event_id=event_id)


# -- agents and versions -----------------------------------------------------------------------


async def test_agent_insert_is_once_and_lock_reads_the_row(store: MetadataStore) -> None:
    async with store.transaction() as tx:
        assert await tx.agents.insert_if_absent(spec(), NOW)
        assert not await tx.agents.insert_if_absent(spec(team="other"), NOW)
        locked = await tx.agents.lock("gl-cbam")
        assert locked is not None
        assert (locked.owner_team, locked.deleted_at) == ("cbam-team", None)
        assert await tx.agents.lock("gl-missing") is None


async def test_version_insert_reports_a_duplicate(store: MetadataStore) -> None:
    await register(store, spec())
    assert await store.versions.exists("gl-cbam", "1.0.0")
    assert not await store.versions.exists("gl-cbam", "2.0.0")
    async with store.transaction() as tx:
        assert not await tx.versions.insert(new_version(spec()))


async def test_racing_version_inserts_one_wins(store: MetadataStore) -> None:
    """The second of two concurrent inserts waits for the first and learns it lost (-> 409)."""
    await register(store, spec())
    first_inserted, release = asyncio.Event(), asyncio.Event()

    async def first() -> bool:
        async with store.transaction() as tx:
            won = await tx.versions.insert(new_version(spec(version="1.1.0")))
            first_inserted.set()
            await release.wait()
            return won

    async def second() -> bool:
        await first_inserted.wait()
        async with store.transaction() as tx:
            return await tx.versions.insert(new_version(spec(version="1.1.0")))

    one, two = asyncio.create_task(first()), asyncio.create_task(second())
    await first_inserted.wait()
    release.set()
    assert sorted(await asyncio.gather(one, two)) == [False, True]


async def test_entries_come_whole_in_the_order_asked(store: MetadataStore) -> None:
    await register(store, spec("gl-a"))
    await register(store, spec("gl-b"))
    async with store.transaction() as tx:
        assert await tx.versions.insert(new_version(spec("gl-a", "1.10.0")))
        assert await tx.versions.insert(new_version(spec("gl-a", "1.9.0")))
    entries = await store.agents.entries(["gl-b", "gl-missing", "gl-a"])
    assert [e.agent_id for e in entries] == ["gl-b", "gl-a"]
    assert [v.version for v in entries[1].versions] == ["1.0.0", "1.9.0", "1.10.0"]  # semver
    entry = await store.agents.entry("gl-a")
    assert entry is not None and entry.current_version == "1.0.0"
    assert entry.status is AgentStatus.DRAFT
    assert await store.agents.entry("gl-missing") is None
    assert await store.agents.entries([]) == []


async def test_make_current_refreshes_the_card(store: MetadataStore) -> None:
    await register(store, spec())
    renamed = spec(version="2.0.0")
    async with store.transaction() as tx:
        assert await tx.versions.insert(new_version(renamed))
        await tx.agents.make_current("gl-cbam", "2.0.0", NOW + timedelta(hours=1))
    entry = await store.agents.entry("gl-cbam")
    assert entry is not None
    assert (entry.current_version, entry.name) == ("2.0.0", "gl-cbam 2.0.0")
    assert await store.agents.recently_changed(10) == ["gl-cbam"]
    [doc] = await store.agents.search_documents(["gl-cbam", "gl-missing"])
    assert (doc.current_version, doc.status, doc.tags) == ("2.0.0", "draft", ["cbam"])


async def test_recently_changed_is_newest_first(store: MetadataStore) -> None:
    for name in ("gl-old", "gl-new"):
        await register(store, spec(name))
    async with store.transaction() as tx:
        await tx.agents.make_current("gl-new", "1.0.0", NOW + timedelta(days=1))
    assert await store.agents.recently_changed(1) == ["gl-new"]
    assert await store.agents.recently_changed(5) == ["gl-new", "gl-old"]


async def test_status_changes_bump_the_row_version(store: MetadataStore) -> None:
    """The optimistic check: a version's row_version moves with every status change."""
    await register(store, spec())
    async with store.transaction() as tx:
        locked = await tx.versions.lock("gl-cbam", "1.0.0")
        assert locked is not None and locked.status is AgentStatus.DRAFT
        await tx.versions.set_status("gl-cbam", "1.0.0", AgentStatus.ACTIVE, "go", NOW)
    v = await store.versions.get("gl-cbam", "1.0.0")
    assert v is not None
    assert (v.status, v.status_reason, v.row_version) == (
        AgentStatus.ACTIVE,
        "go",
        locked.row_version + 1,
    )
    async with store.transaction() as tx:
        assert await tx.versions.lock("gl-cbam", "9.9.9") is None
    assert await store.versions.get("gl-cbam", "9.9.9") is None


async def test_a_version_keeps_its_spec_runtime_included(store: MetadataStore) -> None:
    """The deployment controller starts a version from its stored spec's runtime section."""
    doc = spec().model_dump(mode="json")
    s = validate_spec(doc | {"runtime": {"command": ["python3", "{artifact}", "--port", "{port}"]}})
    await register(store, s)
    stored = await store.versions.spec("gl-cbam", "1.0.0")
    assert stored == s and stored.runtime is not None
    assert stored.runtime.command[-1] == "{port}"
    assert await store.versions.spec("gl-cbam", "9.9.9") is None


async def test_retire_all_and_mark_deleted(store: MetadataStore) -> None:
    await register(store, spec())
    async with store.transaction() as tx:
        assert await tx.versions.insert(new_version(spec(version="2.0.0")))
        await tx.versions.set_status("gl-cbam", "2.0.0", AgentStatus.RETIRED, "old", NOW)
    async with store.transaction() as tx:
        assert await tx.versions.statuses("gl-cbam") == {"1.0.0": "draft", "2.0.0": "retired"}
        await tx.versions.retire_all("gl-cbam", "agent deleted", NOW)
        await tx.agents.mark_deleted("gl-cbam", NOW)
    entry = await store.agents.entry("gl-cbam")
    assert entry is not None and entry.deleted_at == NOW
    by_version = {v.version: v for v in entry.versions}
    assert by_version["1.0.0"].status is AgentStatus.RETIRED
    assert by_version["1.0.0"].row_version == 2
    assert by_version["2.0.0"].row_version == 2  # already retired: left alone


async def test_artifact_references(store: MetadataStore) -> None:
    assert not await store.versions.artifact_referenced(SHA)
    await register(store, spec(), sha=SHA)
    async with store.transaction() as tx:
        await tx.versions.lock_artifact(SHA)
        assert await tx.versions.artifact_referenced(SHA)


async def test_a_failed_transaction_leaves_nothing(store: MetadataStore) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.agents.insert_if_absent(spec(), NOW)
            await tx.audit.append(record("e-1"))
            await tx.outbox.enqueue("gl-cbam")
            raise RuntimeError("refused")
    assert await store.agents.entry("gl-cbam") is None
    assert await store.audit.page(AuditFilter()) == []
    assert await store.outbox.pending(10) == []


# -- certificates ------------------------------------------------------------------------------


async def test_certificates_are_valid_until_they_expire(store: MetadataStore) -> None:
    await register(store, spec())
    future, past = datetime.now(UTC) + timedelta(days=1), datetime.now(UTC) - timedelta(days=1)
    async with store.transaction() as tx:
        await tx.certificates.insert(certificate("CERT-OLD", "gl-cbam", "1.0.0", past))
    assert not await store.certificates.valid_for("gl-cbam", "1.0.0")
    old = await store.certificates.get("CERT-OLD")
    assert old is not None and not old.valid
    async with store.transaction() as tx:
        await tx.certificates.insert(certificate("CERT-NEW", "gl-cbam", "1.0.0", future))
    assert await store.certificates.valid_for("gl-cbam", "1.0.0")
    new = await store.certificates.get("CERT-NEW")
    assert new is not None and new.valid and new.issued_by == "approver"
    assert await store.certificates.get("CERT-NONE") is None
    v = await store.versions.get("gl-cbam", "1.0.0")
    assert v is not None and (v.certificate_id, v.certified) == ("CERT-NEW", True)


async def test_duplicate_certificate_id_is_a_unique_violation(store: MetadataStore) -> None:
    await register(store, spec())
    expires = datetime.now(UTC) + timedelta(days=1)
    await store.certificates.insert(certificate("CERT-1", "gl-cbam", "1.0.0", expires))
    with pytest.raises(asyncpg.UniqueViolationError):
        await store.certificates.insert(certificate("CERT-1", "gl-cbam", "1.0.0", expires))


# -- audit --------------------------------------------------------------------------------------


async def test_audit_appends_form_a_chain(store: MetadataStore) -> None:
    async with store.transaction() as tx:
        first = await tx.audit.append(record("e-1"))
        second = await tx.audit.append(record("e-2", "token.create"))
    assert first != second
    events = await store.audit.page(AuditFilter())
    assert [(e.event_id, e.prev_hash) for e in events] == [("e-1", "0" * 64), ("e-2", first)]
    assert (await verify_chain(store.audit)).checked == 2
    only = await store.audit.page(AuditFilter(action="token.create"))
    assert [e.event_id for e in only] == ["e-2"]
    after = await store.audit.page(AuditFilter(after_seq=events[0].seq, limit=1))
    assert [e.event_id for e in after] == ["e-2"]


async def test_append_new_skips_known_event_ids(store: MetadataStore) -> None:
    async with store.transaction() as tx:
        assert await tx.audit.append_new([record("e-1"), record("e-2"), record("e-1")]) == 2
    async with store.transaction() as tx:
        assert await tx.audit.append_new([record("e-2"), record("e-3")]) == 1
        assert await tx.audit.append_new([]) == 0
    report = await verify_chain(store.audit)
    assert report.ok and report.checked == 3


async def test_bundle_state_ignores_decisions_and_sidecar_events(store: MetadataStore) -> None:
    assert await store.audit.last_bundle_change() is None
    async with store.transaction() as tx:
        await tx.audit.append(record("e-1", "policy.create"))
    state = await store.audit.last_bundle_change()
    assert state is not None
    async with store.transaction() as tx:
        await tx.audit.append(record("e-2", "opa.decision"))
        await tx.audit.append(record("e-3", "sidecar.invoke"))
    assert await store.audit.last_bundle_change() == state


# -- outbox -------------------------------------------------------------------------------------


async def test_outbox_rows_are_drained_in_order(store: MetadataStore) -> None:
    for name in ("gl-b", "gl-a"):
        await register(store, spec(name))
        await store.outbox.enqueue(name)
    pending = await store.outbox.pending(10)
    assert [agent for _, agent in pending] == ["gl-b", "gl-a"]
    await store.outbox.remove([pending[0][0]])
    assert [agent for _, agent in await store.outbox.pending(10)] == ["gl-a"]
    assert await store.outbox.enqueue_all() == 2
    assert len(await store.outbox.pending(1)) == 1


async def test_one_outbox_drainer_at_a_time(store: MetadataStore, pool: asyncpg.Pool) -> None:
    async with store.outbox_drainer() as session:
        assert await session.outbox.pending(1) == []
        assert not await pool.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK)
        await conn.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK)


# -- tokens, policies, OPA instances, bundles -------------------------------------------------


async def test_tokens_resolve_until_revoked(store: MetadataStore) -> None:
    carla = Principal("t1", "carla", Role.APPROVER, "cbam-team")
    await store.tokens.insert(carla, "hash-1")
    await store.tokens.insert(Principal("t2", "ci", Role.SERVICE, None), "hash-2")
    assert await store.tokens.by_hash("hash-1") == carla
    assert await store.tokens.by_hash("hash-x") is None
    assert [r["name"] for r in await store.tokens.live_bindings()] == ["carla", "ci"]
    assert await store.tokens.revoke("t1") == "carla"
    assert await store.tokens.revoke("t1") is None
    assert await store.tokens.by_hash("hash-1") is None
    listed = {r["token_id"]: r for r in await store.tokens.list_all()}
    assert listed["t1"]["revoked_at"] is not None and listed["t2"]["revoked_at"] is None
    with pytest.raises(asyncpg.UniqueViolationError):
        await store.tokens.insert(Principal("t3", "dup", Role.VIEWER, None), "hash-2")


async def test_policies_keep_revisions_and_history(store: MetadataStore) -> None:
    header = PolicyHeader("gl-access", "access_control", "Access", True)
    async with store.transaction() as tx:
        assert await tx.policies.insert_if_absent(header, "yaml: 1", NOW)
        assert not await tx.policies.insert_if_absent(header, "yaml: 2", NOW)
        await tx.policies.add_history(
            PolicyChange("gl-access", 1, "create", True, "yaml: 1", "carla", None, NOW)
        )
    async with store.transaction() as tx:
        locked = await tx.policies.lock("gl-access")
        assert locked == {"enabled": True, "revision": 1, "source": "yaml: 1"}
        await tx.policies.set_enabled("gl-access", False, 2, NOW)
        await tx.policies.add_history(
            PolicyChange("gl-access", 2, "disable", False, "yaml: 1", "carla", "noisy", NOW)
        )
        assert await tx.policies.lock("gl-none") is None
    got = await store.policies.get("gl-access")
    assert got is not None and (got["enabled"], got["revision"]) == (False, 2)
    assert [h["change"] for h in await store.policies.history("gl-access")] == [
        "create",
        "disable",
    ]
    assert await store.policies.sources() == [("gl-access", "yaml: 1", False)]
    assert [p["policy_id"] for p in await store.policies.list_all()] == ["gl-access"]
    assert await store.policies.get("gl-none") is None


async def test_opa_instances_keep_the_latest_report(store: MetadataStore) -> None:
    await store.opa_instances.upsert("opa-1", {"id": "opa-1"}, {}, {"labels": {}}, NOW)
    later = NOW + timedelta(minutes=1)
    await store.opa_instances.upsert("opa-1", {"id": "opa-1"}, {"b": {}}, {"labels": {}}, later)
    [only] = await store.opa_instances.list_all()
    assert (only["instance_id"], only["bundles"], only["last_seen"]) == ("opa-1", {"b": {}}, later)


async def test_bundle_sources(store: MetadataStore) -> None:
    await register(store, spec())
    [row] = await store.bundles.catalog_rows()
    assert (row["agent_id"], row["version"], row["status"], row["certificate_id"]) == (
        "gl-cbam",
        "1.0.0",
        "draft",
        None,
    )
    assert await store.bundles.load_upload("ci") is None
    await store.bundles.save_upload("ci", b"one", "r1", "s1", "carla")
    await store.bundles.save_upload("ci", b"two", "r2", "s2", "carla")
    assert await store.bundles.load_upload("ci") == ("r2", b"two")
    await store.ping()


# -- deployments ---------------------------------------------------------------------------------


def new_deployment(
    deployment_id: str,
    version: str = "1.0.0",
    environment: str = "production",
    status: DeploymentStatus = DeploymentStatus.PROGRESSING,
    at: datetime = NOW,
    replaces: str | None = None,
) -> NewDeployment:
    return NewDeployment(
        deployment_id=deployment_id,
        agent_id="gl-cbam",
        version=version,
        environment=environment,
        replicas=2,
        deployer="process",
        status=status,
        requested_by="carla",
        replaces=replaces,
        violations=[Violation(policy_id="deployment-approval", message="needs an approval")]
        if status is DeploymentStatus.PENDING
        else [],
        at=at,
    )


async def test_one_live_deployment_per_version_and_environment(store: MetadataStore) -> None:
    await register(store, spec())
    async with store.transaction() as tx:
        assert await tx.deployments.insert(new_deployment("d-1"))
        assert not await tx.deployments.insert(new_deployment("d-2"))
        assert await tx.deployments.insert(new_deployment("d-3", environment="staging"))
    got = await store.deployments.get("d-1")
    assert got is not None
    assert (got.replicas, got.deployer, got.desired, got.status) == (
        2,
        "process",
        Desired.RUNNING,
        DeploymentStatus.PROGRESSING,
    )
    assert (got.violations, got.approvals, got.instances, got.created_at) == ([], [], [], NOW)
    assert await store.deployments.get("d-2") is None
    await store.deployments.request_stop("d-1", "done", NOW)
    await store.deployments.record_observation("d-1", observation(DeploymentStatus.STOPPED), NOW)
    async with store.transaction() as tx:  # once stopped, the slot is free again
        assert await tx.deployments.insert(new_deployment("d-4", at=NOW + timedelta(minutes=1)))


async def test_deployment_lock_and_live_for(store: MetadataStore) -> None:
    await register(store, spec())
    async with store.transaction() as tx:
        assert await tx.versions.insert(new_version(spec(version="2.0.0")))
        assert await tx.deployments.insert(new_deployment("d-1"))
        assert await tx.deployments.insert(
            new_deployment("d-2", "2.0.0", at=NOW + timedelta(seconds=1), replaces="d-1")
        )
        assert await tx.deployments.insert(
            new_deployment("d-3", environment="staging", at=NOW + timedelta(seconds=2))
        )
        locked = await tx.deployments.lock("d-2")
        assert locked is not None and locked.replaces == "d-1"
        assert await tx.deployments.lock("d-none") is None
    assert [d.deployment_id for d in await store.deployments.live_for("gl-cbam")] == [
        "d-1",
        "d-2",
        "d-3",
    ]
    by_version = await store.deployments.live_for("gl-cbam", version="1.0.0")
    assert [d.deployment_id for d in by_version] == ["d-1", "d-3"]
    narrow = await store.deployments.live_for("gl-cbam", "1.0.0", "staging")
    assert [d.deployment_id for d in narrow] == ["d-3"]
    assert await store.deployments.live_for("gl-missing") == []
    assert await store.deployments.count_live("gl-cbam") == 3
    assert [d.deployment_id for d in await store.deployments.unfinished()] == ["d-1", "d-2", "d-3"]


async def test_a_locked_deployment_waits_for_its_holder(store: MetadataStore) -> None:
    await register(store, spec())
    await store.deployments.insert(new_deployment("d-1"))
    locked, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with store.transaction() as tx:
            await tx.deployments.lock("d-1")
            locked.set()
            await release.wait()
            await tx.deployments.request_stop("d-1", "first", NOW)

    async def waiter() -> str | None:
        await locked.wait()
        async with store.transaction() as tx:
            got = await tx.deployments.lock("d-1")
            return got.stop_reason if got else None

    one, two = asyncio.create_task(holder()), asyncio.create_task(waiter())
    await locked.wait()
    release.set()
    _, seen = await asyncio.gather(one, two)
    assert seen == "first"  # the waiter read the row after the holder committed


async def test_deployment_list_filters_newest_first(store: MetadataStore) -> None:
    await register(store, spec())
    await register(store, spec("gl-other"))
    await store.deployments.insert(new_deployment("d-1"))
    await store.deployments.insert(
        new_deployment("d-2", environment="staging", at=NOW + timedelta(seconds=1))
    )
    pending = new_deployment(
        "d-3", environment="dev", status=DeploymentStatus.PENDING, at=NOW + timedelta(seconds=2)
    )
    await store.deployments.insert(pending)
    other = dataclasses.replace(new_deployment("d-4"), agent_id="gl-other")
    await store.deployments.insert(other)
    ids = [d.deployment_id for d in await store.deployments.list()]
    assert ids == ["d-3", "d-2", "d-4", "d-1"]  # same time: by id, descending
    assert [d.deployment_id for d in await store.deployments.list(agent_id="gl-cbam")] == [
        "d-3",
        "d-2",
        "d-1",
    ]
    assert [d.deployment_id for d in await store.deployments.list(environment="staging")] == ["d-2"]
    [only] = await store.deployments.list(status=DeploymentStatus.PENDING)
    assert only.deployment_id == "d-3"
    assert only.violations == [
        Violation(policy_id="deployment-approval", message="needs an approval")
    ]
    assert len(await store.deployments.list(agent_id="gl-cbam", limit=2)) == 2
    assert await store.deployments.list(agent_id="gl-missing") == []


async def test_approvals_once_per_approver_then_a_decision(store: MetadataStore) -> None:
    await register(store, spec())
    await store.deployments.insert(new_deployment("d-1", status=DeploymentStatus.PENDING))
    later = NOW + timedelta(minutes=5)
    async with store.transaction() as tx:
        assert await tx.deployments.add_approval(
            "d-1", Approval(approver="ana", comment="ok", at=NOW)
        )
        assert not await tx.deployments.add_approval(
            "d-1", Approval(approver="ana", comment="again", at=later)
        )
        assert await tx.deployments.add_approval(
            "d-1", Approval(approver="bo", comment="", at=later)
        )
        await tx.deployments.set_decision("d-1", DeploymentStatus.PROGRESSING, [], later)
    got = await store.deployments.get("d-1")
    assert got is not None
    assert [(a.approver, a.comment, a.at) for a in got.approvals] == [
        ("ana", "ok", NOW),
        ("bo", "", later),
    ]
    assert (got.status, got.violations, got.updated_at) == (DeploymentStatus.PROGRESSING, [], later)
    denied = [Violation(policy_id="p", message="m")]
    await store.deployments.set_decision("d-1", DeploymentStatus.PENDING, denied, later)
    again = await store.deployments.get("d-1")
    assert again is not None and (again.status, again.violations) == ("pending", denied)


async def test_stopping_a_pending_deployment_is_immediate(store: MetadataStore) -> None:
    await register(store, spec())
    await store.deployments.insert(new_deployment("d-1", status=DeploymentStatus.PENDING))
    await store.deployments.insert(new_deployment("d-2", environment="staging"))
    later = NOW + timedelta(minutes=1)
    await store.deployments.request_stop("d-1", "withdrawn", later)
    await store.deployments.request_stop("d-2", "undeploy", later)
    pending = await store.deployments.get("d-1")
    assert pending is not None
    assert (pending.desired, pending.status, pending.stop_reason, pending.stopped_at) == (
        Desired.STOPPED,
        DeploymentStatus.STOPPED,
        "withdrawn",
        later,
    )
    running = await store.deployments.get("d-2")
    assert running is not None
    assert (running.desired, running.status, running.stopped_at) == (
        Desired.STOPPED,
        DeploymentStatus.STOPPING,
        None,
    )
    await store.deployments.request_stop("d-2", "again", later + timedelta(minutes=1))
    same = await store.deployments.get("d-2")
    assert same is not None and same.stop_reason == "undeploy"  # the first request stands
    assert await store.deployments.count_live("gl-cbam") == 1
    assert [d.deployment_id for d in await store.deployments.unfinished()] == ["d-2"]


def observation(status: DeploymentStatus, endpoint: str | None = None) -> Observation:
    instances = [Instance(name="i-0", ready=endpoint is not None, endpoint=endpoint, restarts=1)]
    return Observation(status=status, instances=instances, endpoint=endpoint, message=status.value)


async def test_observations_set_ready_at_once_and_stopped_at(store: MetadataStore) -> None:
    await register(store, spec())
    await store.deployments.insert(new_deployment("d-1"))
    t1, t2, t3, t4 = (NOW + timedelta(minutes=m) for m in (1, 2, 3, 4))
    url = "http://127.0.0.1:9000"
    await store.deployments.record_observation("d-1", observation(DeploymentStatus.READY, url), t1)
    await store.deployments.record_observation("d-1", observation(DeploymentStatus.DEGRADED), t2)
    await store.deployments.record_observation("d-1", observation(DeploymentStatus.READY, url), t3)
    got = await store.deployments.get("d-1")
    assert got is not None
    assert (got.status, got.endpoint, got.ready_at, got.observed_at) == ("ready", url, t1, t3)
    assert got.instances == [Instance(name="i-0", ready=True, endpoint=url, restarts=1)]
    await store.deployments.request_stop("d-1", "bye", t3)
    stale = observation(DeploymentStatus.READY, url)  # observed before the stop was requested
    assert not await store.deployments.record_observation("d-1", stale, t3)
    stopping = await store.deployments.get("d-1")
    assert stopping is not None and stopping.status == "stopping"
    done = observation(DeploymentStatus.STOPPED)
    assert await store.deployments.record_observation("d-1", done, t4)
    stopped = await store.deployments.get("d-1")
    assert stopped is not None
    assert (stopped.status, stopped.stopped_at, stopped.endpoint) == ("stopped", t4, None)
    late = observation(DeploymentStatus.READY, url)
    assert not await store.deployments.record_observation("d-1", late, t4 + timedelta(minutes=1))
    final = await store.deployments.get("d-1")
    assert final is not None and final.status == "stopped"  # stopped is final


async def test_entries_count_live_deployments(store: MetadataStore) -> None:
    await register(store, spec())
    await store.deployments.insert(new_deployment("d-1"))
    await store.deployments.insert(new_deployment("d-2", environment="staging"))
    await store.deployments.request_stop("d-2", "bye", NOW)
    await store.deployments.record_observation("d-2", observation(DeploymentStatus.STOPPED), NOW)
    entry = await store.agents.entry("gl-cbam")
    assert entry is not None and entry.deployment_count == 1


async def test_deprecation_columns_reach_versions_and_bundle_rows(
    store: MetadataStore, pool: asyncpg.Pool
) -> None:
    await register(store, spec())
    sunset = NOW + timedelta(days=30)
    await pool.execute(
        "UPDATE agent_versions SET status = 'deprecated', deprecated_at = $1, sunset_at = $2,"
        " replacement_agent_id = 'gl-cbam-v2'",
        NOW,
        sunset,
    )
    v = await store.versions.get("gl-cbam", "1.0.0")
    assert v is not None
    assert (v.deprecated_at, v.sunset_at, v.replacement_agent_id) == (NOW, sunset, "gl-cbam-v2")
    [row] = await store.bundles.catalog_rows()
    assert (row["deprecated_at"], row["sunset_at"], row["replacement_agent_id"]) == (
        NOW,
        sunset,
        "gl-cbam-v2",
    )
