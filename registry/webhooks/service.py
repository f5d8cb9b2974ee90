"""Webhook subscriptions: create, read, delete, each change one transaction with its audit event.

A subscription belongs to a team: the team it names, or the owner team of the agent it names.
Publishers of that team and admins manage and read it; other roles cannot (the URL is the
subscriber's business). The signing secret is generated here and returned once, by `create`."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from registry.audit.chain import AuditRecord
from registry.auth.models import Role
from registry.auth.principal import Context, Principal
from registry.errors import Conflict, Forbidden, NotFound, ValidationFailed
from registry.store.port import MetadataStore, NewSubscription, Session
from registry.webhooks.destinations import DestinationRefused, Destinations
from registry.webhooks.models import (
    CreatedSubscription,
    Delivery,
    Subscription,
    SubscriptionQuery,
    SubscriptionRequest,
)

MANAGERS = {Role.PUBLISHER, Role.ADMIN}


def _require_manager(principal: Principal) -> None:
    if principal.role not in MANAGERS or (principal.role is Role.PUBLISHER and not principal.team):
        raise Forbidden(
            "webhook subscriptions need role publisher (of the team) or admin; "
            f"token has role {principal.role.value}"
        )


def _require_team(principal: Principal, team: str) -> None:
    _require_manager(principal)
    if principal.role is not Role.ADMIN and principal.team != team:
        raise Forbidden(f"only publishers of team {team!r} or admins manage its subscriptions")


class SubscriptionService:
    def __init__(self, store: MetadataStore, destinations: Destinations | None = None) -> None:
        self.store = store
        self.destinations = destinations or Destinations()

    async def create(self, ctx: Context, req: SubscriptionRequest) -> CreatedSubscription:
        _require_manager(ctx.principal)
        try:
            await self.destinations.check(req.url)
        except DestinationRefused as exc:
            error = {"field": "url", "message": str(exc)}
            raise ValidationFailed(f"url: {exc}", errors=[error]) from None
        secret = "whsec_" + secrets.token_urlsafe(32)
        new = NewSubscription(
            subscription_id="sub-" + secrets.token_hex(8),
            url=req.url,
            agent_id=req.agent_id,
            team=req.team,
            events=req.events,
            secret=secret,
            created_by=ctx.principal.actor,
            at=datetime.now(UTC),
        )
        async with self.store.transaction() as tx:
            _require_team(ctx.principal, await self._owner_team(tx, req))
            await tx.webhooks.insert_subscription(new)
            created = await tx.webhooks.subscription(new.subscription_id)
            assert created is not None
            await self._record(tx, ctx, "webhook.subscribe", created)
        return CreatedSubscription(**created.model_dump(), secret=secret)

    @staticmethod
    async def _owner_team(tx: Session, req: SubscriptionRequest) -> str:
        if req.team is not None:
            return req.team
        assert req.agent_id is not None  # the request names exactly one
        agent = await tx.agents.lock(req.agent_id)
        if agent is None:
            raise NotFound(f"agent {req.agent_id!r} is not registered")
        if agent.deleted_at is not None:
            raise Conflict(f"agent {req.agent_id!r} was deleted")
        return agent.owner_team

    async def list_subscriptions(self, ctx: Context, q: SubscriptionQuery) -> list[Subscription]:
        """Admins see every subscription; a publisher those of their team."""
        _require_manager(ctx.principal)
        owner = None if ctx.principal.role is Role.ADMIN else ctx.principal.team
        return await self.store.webhooks.subscriptions(q.agent_id, q.team, owner, q.limit)

    async def get(self, ctx: Context, subscription_id: str) -> Subscription:
        _require_manager(ctx.principal)
        return await self._readable(self.store, ctx, subscription_id)

    async def deliveries(self, ctx: Context, subscription_id: str, limit: int) -> list[Delivery]:
        await self.get(ctx, subscription_id)
        return await self.store.webhooks.deliveries(subscription_id, limit)

    async def delete(self, ctx: Context, subscription_id: str) -> Subscription:
        """Stop delivering: the subscription is kept (deleted) with its delivery history; its
        unfinished deliveries are given up."""
        _require_manager(ctx.principal)
        async with self.store.transaction() as tx:
            sub = await self._readable(tx, ctx, subscription_id)
            if not await tx.webhooks.delete_subscription(subscription_id, datetime.now(UTC)):
                raise NotFound(f"subscription {subscription_id!r} does not exist")
            await self._record(tx, ctx, "webhook.unsubscribe", sub)
        return sub

    @staticmethod
    async def _readable(session: Session, ctx: Context, subscription_id: str) -> Subscription:
        sub = await session.webhooks.subscription(subscription_id)
        if sub is None:
            raise NotFound(f"subscription {subscription_id!r} does not exist")
        _require_team(ctx.principal, sub.owner_team)
        return sub

    @staticmethod
    async def _record(tx: Session, ctx: Context, action: str, sub: Subscription) -> None:
        await tx.audit.append(
            AuditRecord(
                actor=ctx.principal.actor,
                action=action,
                target=f"subscription:{sub.subscription_id}",
                agent_id=sub.agent_id,
                after=sub.model_dump(
                    mode="json", include={"url", "agent_id", "team", "events", "owner_team"}
                ),
                request_id=ctx.request_id,
            )
        )
