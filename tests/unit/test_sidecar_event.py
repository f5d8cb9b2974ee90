"""The sidecar event model (what the intake accepts) and the role bindings derived from tokens."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from registry.audit.sidecar_intake import SidecarBatch, SidecarEvent, record
from registry.auth.models import Role
from registry.auth.principal import Principal
from registry.control_plane.bundle import users

EVENT: dict[str, Any] = {
    "event_id": "6F9619FF-8B86-4011-B42D-00C04FC964FF",
    "time": "2026-11-24T10:00:00.123456789Z",
    "sidecar": "sc-1",
    "request_id": "req-1",
    "trace_id": None,
    "user_id": None,
    "agent_id": "gl-cbam-calculator",
    "version": None,
    "action": "invoke",
    "method": "GET",
    "path": "/",
    "environment": None,
    "decision": "error",
    "violations": [],
    "warnings": [{"policy_id": "rate-limit", "message": "close to the limit"}],
    "status": 503,
    "latency_ms": 0,
    "tokens": None,
}


SERVICE = Principal("t1", "sidecar-cbam", Role.SERVICE, None)


def test_event_time_and_id_are_canonical() -> None:
    event = SidecarEvent.model_validate_json(json.dumps(EVENT))
    assert event.at == datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC)
    assert event.stored_id == "sidecar:6f9619ff-8b86-4011-b42d-00c04fc964ff"
    rec = record(event, SERVICE)
    assert rec.after["event_id"] == "6f9619ff-8b86-4011-b42d-00c04fc964ff"
    assert rec.after["time"] == EVENT["time"]  # kept as the sidecar wrote it
    assert rec.actor == "sidecar:sc-1" and rec.action == "sidecar.invoke"
    assert rec.target == "gl-cbam-calculator" and rec.request_id == "req-1"


@pytest.mark.parametrize(
    "time",
    ["2026-11-24 10:00:00Z", "2026-11-24T10:00Z", "2026-11-24T25:00:00Z", "2026-11-24T10:00:00+5"],
)
def test_times_must_be_rfc3339_with_offset(time: str) -> None:
    with pytest.raises(ValidationError):
        SidecarEvent.model_validate_json(json.dumps({**EVENT, "time": time}))


def test_batch_bounds() -> None:
    with pytest.raises(ValidationError):
        SidecarBatch.model_validate_json(json.dumps({"events": []}))
    with pytest.raises(ValidationError):
        SidecarBatch.model_validate_json(json.dumps({"events": [EVENT] * 501}))
    assert (
        len(SidecarBatch.model_validate_json(json.dumps({"events": [EVENT] * 500})).events) == 500
    )


def test_every_key_is_required() -> None:
    for key in EVENT:
        with pytest.raises(ValidationError):
            SidecarEvent.model_validate_json(
                json.dumps({k: v for k, v in EVENT.items() if k != key})
            )


def _token(name: str, role: str, team: str | None = None) -> dict[str, Any]:
    return {"name": name, "role": role, "team": team, "token_id": uuid.uuid4().hex}


def test_role_bindings_from_tokens() -> None:
    rows = [
        _token("alice", "admin"),
        _token("oscar", "approver"),
        _token("carla", "publisher", "cbam"),
        _token("carla", "viewer", "csrd"),  # newer token: its team wins, roles are merged
        _token("vera", "viewer"),
        _token("sidecar-1", "service"),
    ]
    assert users(rows) == {  # type: ignore[arg-type]
        "alice": {"roles": ["admin"]},
        "oscar": {"roles": ["approver", "operator"]},
        "carla": {"roles": ["publisher", "viewer"], "team": "csrd"},
        "vera": {"roles": ["viewer"]},
    }
