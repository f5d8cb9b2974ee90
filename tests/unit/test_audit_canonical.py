"""The audit chain's hashed bytes did not change when `prepare` moved to orjson and the sidecar
intake skipped the JSON round trip: every record here is prepared by the encoder as it was
before (copied verbatim below) and by today's, and the canonical bytes must be identical, the
stored JSON text must hold equal values, and `event_hash` (what `audit verify` recomputes from
stored rows) must agree with the hash the append path computes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.audit.chain import GENESIS, AuditRecord, chain, event_hash, prepare
from registry.audit.sidecar_intake import SidecarBatch, record
from registry.auth.models import Role
from registry.auth.principal import Principal

# -- the encoder before this change, verbatim -----------------------------------------------------


def old_canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def old_canonical(event: dict[str, Any]) -> str:
    body = {
        "event_id": event["event_id"],
        "at": old_canonical_time(event["at"]),
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


def old_prepare(record: AuditRecord) -> tuple[tuple[Any, ...], str]:
    before_json = json.dumps(record.before, default=str)
    after_json = json.dumps(record.after, default=str)
    event = {**record.__dict__, "before": json.loads(before_json), "after": json.loads(after_json)}
    columns = (
        record.event_id, record.at, record.actor, record.action, record.target, record.agent_id,
        before_json, after_json, record.reason, record.request_id,
    )  # fmt: skip
    return columns, old_canonical(event)


# -- the fixed set --------------------------------------------------------------------------------

FLOATS = [0.0, -0.0, 1e-4, 9.99e-5, 1e-5, 1.5e-7, 5e-324, 0.1 + 0.2, 3.0, 12.5, 1e15, 1e16,
          1.2345678901234568e17, 999999999.999, 1e9, -2.5e-6, 1.7976931348623157e308]  # fmt: skip
CONTROL = "".join(map(chr, range(1, 0x20))) + "\x7f"
STRINGS = ["", "plain", "é ü ß", "\U0001f600 emoji", "\u2028\u2029\ufeff", 'quote " back \\',
           CONTROL, "\ue000\uffff\U00010000", "a/b<>&"]  # fmt: skip
WHEN = datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC)


def fixed_records() -> list[AuditRecord]:
    values: list[Any] = [
        None, True, False, 0, -1, 2**53, 2**63, 2**64 - 1, 2**64, 2**70, -(2**70),
        *FLOATS, *STRINGS, [], {}, [1, [2, [3, {}]]],
        {"z": 1, "a": 2, "é": 3, "\U00010000": 4, "\uffff": 5, "A": 6, "": 7},
        {"nested": {"list": [1.5, "x", None, {"deep": [1e-5]}]}},
        {1: "int key", "1": "str key"},  # json turns the int key into a string
        ("a", "tuple"),
        {"when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "id": uuid.UUID(int=7)},  # default=str
        float("nan"), float("inf"),
    ]  # fmt: skip
    out = []
    for i, v in enumerate(values):
        out.append(
            AuditRecord(
                actor=STRINGS[i % len(STRINGS)] or "actor",
                action="agent.register",
                target=f"target-{i}",
                agent_id=None if i % 3 == 0 else f"agent-{i}",
                before=None if i % 2 else v,
                after={"value": v, "i": i},
                reason=None if i % 4 == 0 else "why \u00e9",
                request_id=None if i % 5 == 0 else f"req-{i}",
                event_id=f"ev-{i}",
                at=WHEN + timedelta(microseconds=i)
                if i % 2
                else datetime(2026, 11, 24, 11, 0, i, tzinfo=timezone(timedelta(hours=1))),
            )
        )
    return out


def assert_same(new_columns: tuple[Any, ...], new_canonical: bytes, rec: AuditRecord) -> None:
    old_columns, old_canonical_text = old_prepare(rec)
    assert new_canonical == old_canonical_text.encode()
    assert new_columns[:6] == old_columns[:6] and new_columns[8:] == old_columns[8:]
    for new_text, old_text in zip(new_columns[6:8], old_columns[6:8], strict=True):
        new_value, old_value = json.loads(new_text), json.loads(old_text)
        assert json.dumps(new_value, sort_keys=True) == json.dumps(old_value, sort_keys=True)


@pytest.mark.parametrize("rec", fixed_records(), ids=lambda r: r.event_id)
def test_prepare_gives_the_old_canonical_bytes(rec: AuditRecord) -> None:
    prepared = prepare(rec)
    assert_same(prepared.columns, prepared.canonical, rec)


# -- sidecar events: validated from JSON, prepared without the round trip ------------------------

PRINCIPAL = Principal("tok-1", "sidecars", Role.SERVICE, None)


def sidecar_event(latency: float | int, text: str, tokens: int | None) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "time": "2026-11-24T10:00:00.123456789+05:30",
        "sidecar": "sc-1",
        "request_id": f"req {text}"[:1024] or "r",
        "trace_id": None,
        "user_id": text,
        "agent_id": "gl-agent",
        "version": None,
        "action": "invoke",
        "method": "POST",
        "path": "/" + text,
        "environment": "production",
        "decision": "deny",
        "violations": [{"policy_id": "p", "message": text, "dropped": [1.5e-9]}],
        "warnings": [],
        "status": 403,
        "latency_ms": latency,
        "tokens": {"total": tokens, "prompt": None, "completion": 0, "model": "gpt-x"},
    }


def check_sidecar_events(docs: list[dict[str, Any]]) -> None:
    batch = SidecarBatch.model_validate_json(json.dumps({"events": docs}))
    prev_new = prev_old = GENESIS
    for e in batch.events:
        rec = record(e, PRINCIPAL)
        fast = prepare(rec, json_native=True)
        assert_same(fast.columns, fast.canonical, rec)
        assert fast.canonical == prepare(rec).canonical
        # What `audit verify` recomputes from the stored row (jsonb text read back).
        stored = dict(zip(("event_id", "at", "actor", "action", "target", "agent_id"),
                          fast.columns[:6], strict=True))  # fmt: skip
        stored.update(before=json.loads(fast.columns[6]), after=json.loads(fast.columns[7]),
                      reason=rec.reason, request_id=rec.request_id)  # fmt: skip
        prev_new = chain(prev_new, fast.canonical)
        assert event_hash(prev_old, stored) == prev_new
        prev_old = prev_new


def test_sidecar_events_hash_as_before() -> None:
    latencies: list[float | int] = [*(abs(f) for f in FLOATS if f < 1e9), 0, 7, 10**9]
    docs = [
        sidecar_event(lat, STRINGS[i % len(STRINGS)].replace("\x00", ""), [None, 0, 2**53][i % 3])
        for i, lat in enumerate(latencies)
    ]
    check_sidecar_events(docs)


json_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=1e9, allow_nan=False) | st.integers(0, 10**9),
            json_text.filter(lambda s: 1 <= len(s.encode()) <= 1000),
            st.none() | st.integers(0, 2**53),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_generated_sidecar_events_hash_as_before(
    cases: list[tuple[float, str, int | None]],
) -> None:
    check_sidecar_events([sidecar_event(*c) for c in cases])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | json_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values, json_values)
def test_generated_records_hash_as_before(before: Any, after: Any) -> None:
    rec = AuditRecord("actor", "x.y", "t", before=before, after=after, at=WHEN)
    prepared = prepare(rec)
    old_columns, old_text = old_prepare(rec)
    assert prepared.canonical == old_text.encode()
    assert prepared.columns == old_columns
