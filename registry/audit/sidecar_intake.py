"""Audit events reported by sidecars: validated at the edge against the kernel's event definition
(kernel/audit_event.py), stored in the hash-chained audit trail as action `sidecar.invoke`, once
per event id (docs/registry.md, "Sidecar audit intake")."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from kernel.audit_event import SidecarEvent, event_at
from registry.audit.usage import tally
from registry.auth.principal import Principal
from registry.replay.inputs import KeptInput, input_digest, store_inputs
from registry.store import audit
from registry.store.decision_counts import add_decision_counts
from registry.store.usage import add_usage

ACTION = "sidecar.invoke"
MAX_EVENTS = 500
MAX_BATCH_BYTES = 8 * 1024 * 1024
EVENT_ID_PREFIX = "sidecar:"


class SidecarBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    events: list[SidecarEvent] = Field(min_length=1, max_length=MAX_EVENTS)


class IntakeResult(BaseModel):
    stored: int = Field(description="Events appended to the audit trail by this call")
    duplicates: int = Field(description="Events already stored (or repeated in the batch)")


def stored_id(event: SidecarEvent) -> str:
    """The audit trail's event id: idempotent per sidecar event id."""
    return f"{EVENT_ID_PREFIX}{event['event_id']}"


def record(event: SidecarEvent, principal: Principal) -> audit.AuditRecord:
    """The audit record of one validated event (its JSON form is the record's ``after``, with
    the decision input replaced by its hash: the input is kept beside the chain)."""
    agent, version = event["agent_id"], event["version"]
    after: dict[str, object] = dict(event)
    if "input" in after:  # absent from sidecars older than the key
        kept = after.pop("input")
        after["input_sha256"] = input_digest(kept) if kept is not None else None
    return audit.AuditRecord(
        actor=f"sidecar:{event['sidecar']}",
        action=ACTION,
        target=f"{agent}@{version}" if version else agent,
        agent_id=agent,
        after=after,
        reason=f"reported with token {principal.token_id} ({principal.name})",
        request_id=event["request_id"],
        event_id=stored_id(event),
        at=event_at(event),
    )


async def store_events(
    pool: asyncpg.Pool, batch: SidecarBatch, principal: Principal
) -> IntakeResult:
    """Append the batch's new events in one transaction, adding them to the agents' usage;
    already stored ones are counted as duplicates (and not as usage again)."""
    records = [record(e, principal) for e in batch.events]
    events = {id(r): e for r, e in zip(records, batch.events, strict=True)}  # the very record
    async with pool.acquire() as conn, conn.transaction():
        appended = await audit.append_new_records(conn, records, json_native=True)
        await add_usage(conn, tally(events[id(r)] for r in appended))
        await add_decision_counts(conn, [events[id(r)] for r in appended])
        await store_inputs(conn, kept_inputs((r, events[id(r)]) for r in appended))
    return IntakeResult(stored=len(appended), duplicates=len(records) - len(appended))


def kept_inputs(
    appended: Iterable[tuple[audit.AuditRecord, SidecarEvent]],
) -> list[KeptInput]:
    """The decision inputs of newly appended events (those that carry one)."""
    return [
        KeptInput(r.event_id, e["agent_id"], r.at, kept)
        for r, e in appended
        if (kept := e.get("input")) is not None
    ]
