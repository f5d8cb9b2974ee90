"""Policy what-if replay (POST /api/v1/policies/replay): the recorded decision inputs of a
period re-decided by the current bundle and by the current bundle with a draft policy, both
built from one read of the stored policies, catalog and role bindings (docs/reports.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg

from bundles.engines.embedded import EmbeddedEngine
from bundles.engines.wire import EngineError
from registry.auth.models import Role
from registry.auth.principal import Context
from registry.control_plane.bundle import BundleServer, validate_policy, with_enabled
from registry.control_plane.policies import PolicyStore
from registry.errors import Forbidden, ServiceUnavailable, ValidationFailed
from registry.replay.decide import redecide
from registry.replay.inputs import Recorded, read_inputs
from registry.replay.models import ReplayRequest, period
from registry.replay.report import Outcome, summarize
from registry.replay.retention import oldest_kept

MAX_CALLS: Final = 100_000  # per replay; more in the period: the report says truncated


class ReplayService:
    def __init__(self, pool: asyncpg.Pool, bundles: BundleServer, policies: PolicyStore) -> None:
        self._pool = pool
        self._bundles = bundles
        self._policies = policies

    async def replay(self, ctx: Context, request: ReplayRequest) -> dict[str, Any]:
        """The replay report; ValidationFailed for a bad draft or period, Forbidden below
        approver. Nothing is stored."""
        if ctx.principal.role not in (Role.APPROVER, Role.ADMIN):
            raise Forbidden("replaying a policy needs role approver or admin")
        now = datetime.now(UTC)
        try:
            since, until = period(request, now)
            header = await asyncio.to_thread(validate_policy, request.policy, "draft")
        except ValueError as exc:
            raise ValidationFailed(f"invalid replay request: {exc}") from None
        draft = {header.policy_id: with_enabled(request.policy, request.enabled)}
        stored = {pid for pid, _, _ in await self._policies.sources()}
        current, candidate = await self._bundles.build_variants([{}, draft])
        calls = await read_inputs(
            self._pool, max(since, oldest_kept(now)), until, request.agent_id, MAX_CALLS + 1
        )
        truncated = len(calls) > MAX_CALLS
        report = await asyncio.to_thread(
            _replay, current.content, candidate.content, calls[:MAX_CALLS], truncated
        )
        return {
            "policy_id": header.policy_id,
            "replaces": header.policy_id in stored,
            "from": since.isoformat(),
            "to": until.isoformat(),
            "agent_id": request.agent_id,
            "enabled": request.enabled,
            **report,
        }


def _replay(
    current: bytes, candidate: bytes, calls: Sequence[Recorded], truncated: bool
) -> dict[str, Any]:
    """Pure apart from the engines: every intact recorded call decided by both bundles."""
    try:
        before, after = EmbeddedEngine.from_bundle(current), EmbeddedEngine.from_bundle(candidate)
    except EngineError as exc:
        raise ServiceUnavailable(f"cannot load the replay bundles: {exc}") from None
    intact = [c for c in calls if c.intact]
    outcomes = (Outcome(c, redecide(before, c.input), redecide(after, c.input)) for c in intact)
    tampered = [c.event_id for c in calls if not c.intact]
    return summarize(outcomes, tampered=tampered, truncated=truncated)
