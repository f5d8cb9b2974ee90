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
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bundles.assemble import ROOTS, bundle_data, bundle_sources, metadata
from bundles.bundle import (
    BuiltBundle,
    BundleError,
    build_bundle_bytes,
    pack_files,
    read_bundle_files,
    read_revision,
)
from bundles.compiler import CompiledPolicies, compile_policies
from bundles.errors import PolicyError
from bundles.signing import (
    SIGNATURES_FILE,
    SignatureError,
    SigningConfig,
    signatures_document,
    signed_files,
)
from registry.audit.chain import AuditRecord
from registry.auth.models import Role
from registry.auth.principal import Context
from registry.control_plane.policies import PolicyHeader, PolicyStore
from registry.errors import Conflict, ServiceUnavailable, ValidationFailed
from registry.store.port import MetadataStore

BUNDLE_NAME = "greenlang"
NS_PER_S = 1_000_000_000


def _compile_texts(texts: dict[str, str]) -> CompiledPolicies:
    """Compile YAML texts (name -> text) through the same compiler authors use on files.
    Errors name `NAME.yaml:LINE`, never the server's temp directory."""
    with tempfile.TemporaryDirectory(prefix="gl-policies-") as tmp:
        for name, text in texts.items():
            (Path(tmp) / f"{name}.yaml").write_text(text, encoding="utf-8")
        try:
            return compile_policies([tmp])
        except PolicyError as exc:
            raise PolicyError(replace(p, file=Path(p.file).name) for p in exc.problems) from None


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


def with_enabled(text: str, enabled: bool) -> str:
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


def users(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
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


def catalog(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
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


class BundleServer:
    """Builds, caches and signs the bundles the registry serves (every one is signed with
    ``signing``: the registry's key, registry/control_plane/signing_key.py)."""

    def __init__(self, store: MetadataStore, policies: PolicyStore, signing: SigningConfig):
        self._store = store
        self._policies = policies
        self._signing = signing
        self._lock = asyncio.Lock()
        self._cached: tuple[int | None, BuiltBundle] | None = None
        self._signed_uploads: dict[str, bytes] = {}  # sha256 of an upload -> signed copy

    async def _state(self) -> int | None:
        return await self._store.audit.last_bundle_change()

    async def current(self) -> BuiltBundle:
        async with self._lock:
            state = await self._state()
            if self._cached is None or self._cached[0] != state:
                self._cached = (state, await self._build())
            return self._cached[1]

    async def catalog(self) -> dict[str, Any]:
        return catalog(await self._store.bundles.catalog_rows())

    async def role_bindings(self) -> dict[str, Any]:
        return users(await self._store.tokens.live_bindings())

    async def _build(self) -> BuiltBundle:
        return (await self.build_variants([{}], signing=self._signing))[0]

    async def signed_upload(self, content: bytes) -> bytes:
        """A published bundle as served: its files with the registry's signature (any
        signature it came with replaced), so sidecars and OPAs verify it with the same key."""
        digest = hashlib.sha256(content).hexdigest()
        signed = self._signed_uploads.get(digest)
        if signed is None:
            signed = await asyncio.to_thread(_resign, content, self._signing)
            if len(self._signed_uploads) >= MAX_SIGNED_UPLOADS:
                self._signed_uploads.pop(next(iter(self._signed_uploads)))
            self._signed_uploads[digest] = signed
        return signed

    async def build_variants(
        self, overrides: Sequence[Mapping[str, str]], signing: SigningConfig | None = None
    ) -> list[BuiltBundle]:
        """One bundle per override (policy_id -> YAML, added or replacing the stored policy),
        all from one read of the stored policies, catalog and bindings (policy replay compares
        the current bundle, override {}, with a draft's). Not cached; signed with ``signing``.
        ValidationFailed when an override breaks a bundle that builds without it."""
        stored = await self._policies.sources()
        rows = await self._store.bundles.catalog_rows()
        bindings = await self.role_bindings()
        texts = {pid: with_enabled(text, enabled) for pid, text, enabled in stored}
        built = []
        for override in overrides:
            try:
                compiled = await asyncio.to_thread(_compile_texts, {**texts, **override})
                built.append(
                    await asyncio.to_thread(_assemble, compiled, catalog(rows), bindings, signing)
                )
            except (PolicyError, ValueError) as exc:
                if override and built:
                    raise ValidationFailed(f"the bundle cannot be built with it: {exc}") from None
                raise ServiceUnavailable(f"the bundle cannot be built: {exc}") from None
        return built


def _assemble(
    compiled: CompiledPolicies,
    agents: dict[str, Any],
    bindings: dict[str, Any],
    signing: SigningConfig | None = None,
) -> BuiltBundle:
    """bundles.assemble.assemble, with the role bindings overlaid on the stock users data."""
    data = bundle_data(catalog=agents)
    data["users"] = {**data.get("users", {}), **bindings}
    sources = bundle_sources(compiled, data=data)  # with policy.wasm, compiled by opa
    return build_bundle_bytes(sources, roots=ROOTS, metadata=metadata(sources), signing=signing)


def _resign(content: bytes, signing: SigningConfig) -> bytes:
    files = read_bundle_files(content)
    files.pop(SIGNATURES_FILE, None)
    try:
        files[SIGNATURES_FILE] = signatures_document(files, signing)
    except SignatureError as exc:  # e.g. a data.json that is not JSON
        raise ServiceUnavailable(f"the published bundle cannot be signed: {exc}") from None
    return pack_files(files)


MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_SIGNED_UPLOADS = 16  # signed copies of published bundles kept in memory


def uploaded_revision(content: bytes) -> str:
    """The revision in an uploaded archive's .manifest; ValueError when it is not a bundle
    or one the registry cannot sign (it signs every bundle it serves)."""
    try:
        revision = read_revision(content)
        signed_files(read_bundle_files(content))
    except (BundleError, SignatureError) as exc:
        raise ValueError(str(exc)) from None
    return revision


async def store_upload(store: MetadataStore, ctx: Context, name: str, content: bytes) -> str:
    """Keep a published bundle under `name` (replacing the previous one), audited."""
    if name == BUNDLE_NAME:
        raise Conflict(f"{BUNDLE_NAME!r} is built by the registry; publish under another name")
    try:
        revision = await asyncio.to_thread(uploaded_revision, content)
    except ValueError as exc:
        raise ValidationFailed(f"not an OPA bundle: {exc}") from None
    digest = hashlib.sha256(content).hexdigest()
    async with store.transaction() as tx:
        await tx.bundles.save_upload(name, content, revision, digest, ctx.principal.actor)
        await tx.audit.append(
            AuditRecord(
                actor=ctx.principal.actor,
                action="bundle.publish",
                target=f"bundle:{name}",
                after={"revision": revision, "sha256": digest, "size": len(content)},
                request_id=ctx.request_id,
            )
        )
    return revision
