"""The sidecar audit event definition, as the registry validates it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from kernel.audit_event import SidecarEvent, event_at
from tests.unit.test_sidecar_event import EVENT

ADAPTER: TypeAdapter[SidecarEvent] = TypeAdapter(SidecarEvent)


def validate(doc: dict[str, Any]) -> SidecarEvent:
    return ADAPTER.validate_json(json.dumps(doc))


def test_event_time_and_id_are_canonical() -> None:
    event = validate(EVENT)
    assert event["event_id"] == "6f9619ff-8b86-4011-b42d-00c04fc964ff"
    assert event["time"] == EVENT["time"]  # kept as the sidecar wrote it
    assert event_at(event) == datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "time",
    ["2026-11-24 10:00:00Z", "2026-11-24T10:00Z", "2026-11-24T25:00:00Z", "2026-11-24T10:00:00+5"],
)
def test_times_must_be_rfc3339_with_offset(time: str) -> None:
    with pytest.raises(ValidationError):
        validate({**EVENT, "time": time})


def test_every_key_is_required_and_no_other_allowed() -> None:
    for key in EVENT:
        with pytest.raises(ValidationError):
            validate({k: v for k, v in EVENT.items() if k != key})
    with pytest.raises(ValidationError, match="extra"):
        validate({**EVENT, "extra": 1})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("event_id", "not-a-uuid"),
        ("status", "200"),
        ("latency_ms", True),
        ("decision", "maybe"),
        ("path", "a\x00b"),
        ("sidecar", "a\nb"),
        ("trace_id", "XYZ"),
        ("tokens", {"total": -1, "prompt": None, "completion": None, "model": None}),
        ("violations", [{"policy_id": "p"}]),
    ],
)
def test_bad_values_are_refused(key: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        validate({**EVENT, key: value})


def test_findings_keep_only_policy_id_and_message() -> None:
    finding = {"policy_id": "p", "message": "m", "severity": "high"}
    assert validate({**EVENT, "violations": [finding]})["violations"] == [
        {"policy_id": "p", "message": "m"}
    ]
