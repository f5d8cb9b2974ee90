"""The registry as OPA's control plane: status reports (which instance runs which bundle revision)
and decision logs (stored in the audit trail, idempotent by decision id)."""

from __future__ import annotations

import gzip
import json
import zlib
from datetime import UTC, datetime
from typing import Any

from kernel import strict_json
from registry.audit.chain import AuditRecord, nul_path
from registry.errors import BadRequest, PayloadTooLarge, ValidationFailed
from registry.store.port import MetadataStore

MAX_LOG_BYTES = 16 * 1024 * 1024  # decompressed; guards against gzip bombs


def gunzip_limited(body: bytes, limit: int = MAX_LOG_BYTES) -> bytes:
    """Decompress at most `limit` bytes; refuse more instead of filling memory."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ValidationFailed(f"body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decision log batch larger than {limit} bytes uncompressed")
    return out


def parse_json(raw: bytes, what: str) -> Any:
    try:
        value = strict_json.loads(raw)
    except strict_json.JsonBodyError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None
    if (where := nul_path(value)) is not None:
        raise ValidationFailed(f"{what}: NUL characters cannot be stored (at {where})")
    return value


async def record_status(store: MetadataStore, report: Any) -> str:
    """Upsert the reporting instance's latest status; returns its id."""
    if not isinstance(report, dict) or not isinstance(report.get("labels"), dict):
        raise ValidationFailed("status report needs a 'labels' object")
    instance = report["labels"].get("id")
    if not isinstance(instance, str) or not 0 < len(instance) <= 200:
        raise ValidationFailed("status report needs labels.id")
    bundles = report.get("bundles")
    bundles = {} if bundles is None else bundles
    if not isinstance(bundles, dict):
        raise ValidationFailed("status report 'bundles' must be an object")
    now = datetime.now(UTC)
    await store.opa_instances.upsert(instance, report["labels"], bundles, report, now)
    return instance


def _decision_record(event: dict[str, Any]) -> AuditRecord:
    labels = event.get("labels") or {}
    input_doc = _object(event.get("input"))
    agent = _object(input_doc.get("agent"))
    agent_id = agent.get("id") if isinstance(agent.get("id"), str) else None
    result = event.get("result")
    decision = result.get("decision") if isinstance(result, dict) else None
    if not (isinstance(decision, str) and len(decision) <= 64):
        decision = None  # a policy may return anything; the whole result is kept below
    return AuditRecord(
        actor=f"opa:{labels.get('id', 'unknown')}",
        action="opa.decision",
        target=str(event.get("path") or "")[:200],
        agent_id=agent_id[:64] if agent_id else None,
        after={
            "decision": decision,
            "result": result,
            "bundles": event.get("bundles"),
            "input": input_doc,
        },
        request_id=str(event.get("decision_id"))[:128],
        event_id=f"opa-decision:{event['decision_id']}",
        at=_timestamp(event.get("timestamp")),
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _timestamp(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    return datetime.now(UTC)


async def record_decisions(store: MetadataStore, events: Any) -> int:
    """Store a batch of OPA decision-log events; an event already stored is skipped."""
    if not isinstance(events, list) or not all(
        isinstance(e, dict) and isinstance(e.get("decision_id"), str) for e in events
    ):
        raise ValidationFailed("decision logs must be a JSON array of events with decision_id")
    if any(not 0 < len(e["decision_id"]) <= 200 for e in events):
        raise ValidationFailed("a decision_id must have 1 to 200 characters")
    records = [_decision_record(e) for e in events]
    async with store.transaction() as tx:
        return await tx.audit.append_new(records)


async def list_instances(store: MetadataStore) -> list[dict[str, Any]]:
    instances = await store.opa_instances.list_all()
    return [{**i, "last_seen": i["last_seen"].isoformat()} for i in instances]


def gzip_json(value: Any) -> bytes:
    """What OPA sends: used by tests and tools that replay logs."""
    return gzip.compress(json.dumps(value).encode())
