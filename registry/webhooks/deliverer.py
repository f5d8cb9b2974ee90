"""Posts due webhook deliveries from the outbox: signed JSON, retried with backoff, every attempt
recorded with its audit event (action webhook.delivery) in one transaction.

Delivery is at least once: a deliverer that dies after the receiver answered but before the
outcome is stored lets the delivery be claimed again once its lease ends. Receivers dedupe on
X-GreenLang-Delivery. Any number of deliverers may run against one database (claims skip each
other's rows); `greenlang-registry serve` runs one, in its first process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import structlog

from kernel.tasks import stop_task
from registry.audit.chain import AuditRecord
from registry.store.port import AttemptResult, DueDelivery, MetadataStore
from registry.webhooks.destinations import DestinationRefused, Destinations
from registry.webhooks.retry import RetryPolicy
from registry.webhooks.signing import signed_headers

log = structlog.get_logger("registry.webhooks")
ACTOR = "registry:webhooks"
MAX_ERROR = 500
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def body_of(d: DueDelivery) -> bytes:
    """The JSON every receiver gets: the same bytes on every attempt of one delivery."""
    envelope = {
        "delivery_id": d.delivery_id,
        "event": d.event,
        "occurred_at": d.occurred_at.astimezone(UTC).isoformat(),
        "agent_id": d.agent_id,
        "team": d.team,
        "subscription_id": d.subscription_id,
        "data": d.payload,
    }
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"), default=str).encode()


def _outcome(result: AttemptResult, stored: bool) -> str:
    if not stored:  # claimed again meanwhile (its lease ran out) or the subscription was deleted
        return "superseded"
    return "delivered" if result.delivered else "retrying" if result.retry_at else "gave_up"


class WebhookDeliverer:
    def __init__(
        self,
        store: MetadataStore,
        policy: RetryPolicy | None = None,
        clock: Clock = _utcnow,
        jitter: Callable[[], float] = random.random,
        client: httpx.AsyncClient | None = None,
        destinations: Destinations | None = None,
    ) -> None:
        self._store = store
        self._destinations = destinations or Destinations()
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._jitter = jitter
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=self.policy.timeout, follow_redirects=False
        )
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def run_once(self) -> int:
        """Claim the due deliveries (one batch), post them concurrently, record each outcome;
        returns how many were attempted."""
        due = await self._store.webhooks.claim_due(
            self._clock(), self.policy.batch, self.policy.lease
        )
        await asyncio.gather(*(self._attempt(d) for d in due))
        return len(due)

    async def _attempt(self, d: DueDelivery) -> None:
        status, error = await self._post(d)
        delivered = status is not None and 200 <= status < 300
        now = self._clock()
        retry_at = None
        if not delivered and not self.policy.gives_up_after(d.attempt):
            retry_at = now + timedelta(seconds=self.policy.delay(d.attempt, self._jitter()))
        result = AttemptResult(delivered, status, error, retry_at)
        try:
            await self._record(d, result, now)
        except Exception as exc:  # database away: the lease ends and the delivery is retried
            log.warning("webhook outcome not stored", delivery_id=d.delivery_id, error=str(exc))

    async def _post(self, d: DueDelivery) -> tuple[int | None, str | None]:
        body = body_of(d)
        timestamp = int(self._clock().timestamp())
        headers = signed_headers(d.secret, d.delivery_id, d.event, body, timestamp)
        try:
            await self._destinations.check(d.url)  # a name may now resolve somewhere else
        except DestinationRefused as exc:
            return None, f"refused: {exc}"[:MAX_ERROR]
        try:
            async with self._client.stream("POST", d.url, content=body, headers=headers) as r:
                status = r.status_code
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
        return status, None if 200 <= status < 300 else f"HTTP {status}"

    async def _record(self, d: DueDelivery, result: AttemptResult, at: datetime) -> None:
        async with self._store.transaction() as tx:
            stored = await tx.webhooks.record_attempt(d.delivery_id, d.attempt, result, at)
            await tx.audit.append(
                AuditRecord(
                    actor=ACTOR,
                    action="webhook.delivery",
                    target=f"subscription:{d.subscription_id}",
                    agent_id=d.agent_id,
                    after={
                        "delivery_id": d.delivery_id,
                        "event": d.event,
                        "attempt": d.attempt,
                        "status": result.status,
                        "error": result.error,
                        "outcome": _outcome(result, stored),
                    },
                    at=at,
                )
            )

    # -- background task ---------------------------------------------------------------------

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                busy = await self.run_once() >= self.policy.batch
            except Exception as exc:  # database away: try again at the next poll
                log.warning("webhook delivery pass failed", error=str(exc))
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.policy.poll_interval)
                self._wake.clear()

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
        if self._own_client:
            await self._client.aclose()
