"""Hash-chained audit trail: each event's hash covers its content and the previous event's hash,
so editing or deleting a stored event breaks the chain at that point."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

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
    return (at if at.tzinfo is UTC else at.astimezone(UTC)).isoformat(timespec="microseconds")


def event_hash(prev_hash: str, event: dict[str, Any]) -> str:
    """sha256 over the previous hash and the canonical JSON of the event's content fields."""
    return chain(prev_hash, _canonical(event))


def chain(prev_hash: str, canonical: str | bytes) -> str:
    data = canonical if isinstance(canonical, bytes) else canonical.encode()
    return hashlib.sha256(prev_hash.encode() + data).hexdigest()


def _body(event: dict[str, Any]) -> dict[str, Any]:
    return {
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


def _canonical(event: dict[str, Any]) -> str:
    """The reference canonical form: what every stored hash covers and what `verify_chain`
    recomputes (so it also checks the fast encoder below)."""
    return json.dumps(_body(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical_bytes(body: dict[str, Any]) -> bytes:
    """The reference canonical form of `body` (see `_body`; `before` and `after` must be JSON
    values, as `prepare` makes them) in UTF-8, written by orjson (~10x faster) where its output
    is byte-identical, by the reference encoder elsewhere. On JSON values the two differ only
    in float notation (Python writes `1e-05` and `1e+16`, orjson `0.00001` and `1e16`) and in
    what orjson refuses (integers beyond 64 bits, lone surrogates). (Checking the floats by a
    regex over orjson's output instead of walking the value was 3x slower.)"""
    if _floats_exact(body):
        try:
            return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # a 65-bit integer, a lone surrogate: the reference decides
            pass
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _floats_exact(value: Any) -> bool:
    """Whether every float in the JSON value `value` is written alike by orjson and `json`:
    zero, or a magnitude in [1e-4, 1e16) where Python's repr uses no exponent."""
    kind = type(value)
    if kind is float:
        return value == 0.0 or 1e-4 <= abs(value) < 1e16  # NaN and inf fail too
    if kind is dict:
        return all(map(_floats_exact, value.values()))
    if kind is list:
        return all(map(_floats_exact, value))
    return True


def _dumps(value: Any) -> str:
    """A JSON value's text for a jsonb column (any valid JSON text of the same value)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


class Prepared(NamedTuple):
    """A record's stored columns and canonical bytes: everything but the chain links, so the
    expensive part is done before the append lock is taken. (A tuple: cheap to make, one per
    event.)"""

    columns: tuple[Any, ...]
    canonical: bytes


def prepare(record: AuditRecord, *, json_native: bool = False) -> Prepared:
    """The stored columns and canonical bytes of `record`.

    The hashed form must equal what jsonb gives back on read, so `before` and `after` are
    round-tripped through JSON (`default=str` for dates and the like) and the dumped text is
    what gets stored. `json_native` says they are JSON values already (parsed from JSON and
    validated: dicts with str keys, lists, str, int, float, bool, None), for which the round
    trip gives back equal values: it is skipped (the sidecar intake's hot path)."""
    if json_native:
        before, after = record.before, record.after
        before_json, after_json = _dumps(before), _dumps(after)
    else:
        before_json = json.dumps(record.before, default=str)
        after_json = json.dumps(record.after, default=str)
        before, after = json.loads(before_json), json.loads(after_json)
    body = {
        "event_id": record.event_id,
        "at": _canonical_time(record.at),
        "actor": record.actor,
        "action": record.action,
        "target": record.target,
        "agent_id": record.agent_id,
        "before": before,
        "after": after,
        "reason": record.reason,
        "request_id": record.request_id,
    }
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
    return Prepared(columns, _canonical_bytes(body))


@dataclass
class ChainReport:
    checked: int
    ok: bool
    broken_at_seq: int | None = None
    problem: str | None = None
    last_seq: int = 0  # the last event verified (the start when none was)
    last_hash: str = GENESIS


async def verify_chain(
    events: AuditRepository,
    batch: int = 5000,
    after: tuple[int, str] = (0, GENESIS),
    on_batch: Callable[[int, str, int], Awaitable[None]] | None = None,
) -> ChainReport:
    """Walk the chain in seq order from `after` (seq, hash of a trusted event; default: the
    start), recomputing every hash; `on_batch(last_seq, last_hash, checked)` after each batch."""
    (last_seq, prev_hash), checked = after, 0
    while True:
        rows = await events.chain_after(last_seq, batch)
        if not rows:
            return ChainReport(checked, True, last_seq=last_seq, last_hash=prev_hash)
        for row in rows:
            if row["prev_hash"] != prev_hash:
                return ChainReport(checked, False, row["seq"], "previous-hash link broken")
            if event_hash(prev_hash, row) != row["hash"]:
                return ChainReport(checked, False, row["seq"], "content does not match hash")
            prev_hash, last_seq, checked = row["hash"], row["seq"], checked + 1
        if on_batch is not None:
            await on_batch(last_seq, prev_hash, checked)
