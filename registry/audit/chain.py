"""Hash-chained audit trail: each event's hash covers its content and the previous event's hash,
so editing or deleting a stored event breaks the chain at that point."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.store.port import AuditRepository

GENESIS = "0" * 64


@dataclass
class AuditRecord:
    actor: str
    action: str
    target: str
    agent_id: str | None = None
    before: Any = None
    after: Any = None
    reason: str | None = None
    request_id: str | None = None
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


def nul_path(value: Any) -> str | None:
    """Where a NUL character sits in a JSON value (keys included), or None. PostgreSQL text and
    jsonb cannot store U+0000, so such input must be refused before it reaches the database."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path or "value"
        elif isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                if "\x00" in str(key):
                    return where
                stack.append((where, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
    return None


def _canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(prev_hash: str, event: dict[str, Any]) -> str:
    """sha256 over the previous hash and the canonical JSON of the event's content fields."""
    return chain(prev_hash, _canonical(event))


def chain(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _canonical(event: dict[str, Any]) -> str:
    body = {
        "event_id": event["event_id"],
        "at": _canonical_time(event["at"]),
        "actor": event["actor"],
        "action": event["action"],
        "target": event["target"],
        "agent_id": event["agent_id"],
        "before": event["before"],
        "after": event["after"],
        "reason": event["reason"],
        "request_id": event["request_id"],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Prepared:
    """A record's stored columns and canonical text: everything but the chain links, so the
    expensive part is done before the append lock is taken."""

    columns: tuple[Any, ...]
    canonical: str


def prepare(record: AuditRecord) -> Prepared:
    # Round-trip through JSON so the hashed form equals what jsonb gives back on read; the
    # dumped text (stable across the round trip) is what gets stored.
    before_json = json.dumps(record.before, default=str)
    after_json = json.dumps(record.after, default=str)
    event = {**record.__dict__, "before": json.loads(before_json), "after": json.loads(after_json)}
    columns = (
        record.event_id,
        record.at,
        record.actor,
        record.action,
        record.target,
        record.agent_id,
        before_json,
        after_json,
        record.reason,
        record.request_id,
    )
    return Prepared(columns, _canonical(event))


@dataclass
class ChainReport:
    checked: int
    ok: bool
    broken_at_seq: int | None = None
    problem: str | None = None


async def verify_chain(events: AuditRepository, batch: int = 5000) -> ChainReport:
    """Walk the whole chain in seq order, recomputing every hash."""
    prev_hash, last_seq, checked = GENESIS, 0, 0
    while True:
        rows = await events.chain_after(last_seq, batch)
        if not rows:
            return ChainReport(checked=checked, ok=True)
        for row in rows:
            if row["prev_hash"] != prev_hash:
                return ChainReport(checked, False, row["seq"], "previous-hash link broken")
            if event_hash(prev_hash, row) != row["hash"]:
                return ChainReport(checked, False, row["seq"], "content does not match hash")
            prev_hash, last_seq, checked = row["hash"], row["seq"], checked + 1
