"""The registry's intake of sidecar events (record, batch bounds, what the sidecar builds) and
the role bindings derived from tokens."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from registry.audit.sidecar_intake import SidecarBatch, record
from registry.auth.models import Role
from registry.auth.principal import Principal
from registry.control_plane.bundle import users
from sidecar.auth import Principal as SidecarPrincipal
from sidecar.call import Call, Target, audit_event
from sidecar.usage import Usage

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


def test_record_keeps_the_event_as_validated() -> None:
    event = SidecarBatch.model_validate_json(json.dumps({"events": [EVENT]})).events[0]
    rec = record(event, SERVICE)
    assert rec.after["event_id"] == "6f9619ff-8b86-4011-b42d-00c04fc964ff"
    assert rec.event_id == "sidecar:6f9619ff-8b86-4011-b42d-00c04fc964ff"
    assert rec.after["time"] == EVENT["time"]  # kept as the sidecar wrote it
    assert rec.at == datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC)
    assert rec.actor == "sidecar:sc-1" and rec.action == "sidecar.invoke"
    assert rec.target == "gl-cbam-calculator" and rec.request_id == "req-1"


def test_an_event_the_sidecar_builds_is_one_the_registry_accepts() -> None:
    """Both sides use kernel.audit_event: the sidecar's dict passes the registry's validation
    unchanged (a denial with findings, tokens and a principal)."""
    target = Target("gl-cbam-calculator", "1.2.0", "production", "sc-1")
    call = Call(request_id="req-9", method="POST", path="/v1/calc")
    call.principal = SidecarPrincipal("alice", ("analyst",), "cbam")
    call.trace_id = "0af7651916cd43dd8448eb211c80319c"
    call.adopt({"decision": "deny", "violations": [{"policy_id": "p", "message": "m", "x": "1"}]})
    call.status, call.usage = 403, Usage(12, 5, 7, "gpt")
    built = audit_event(target, call, 0.0123)
    batch = SidecarBatch.model_validate_json(json.dumps({"events": [built]}))
    assert batch.events[0] == {**built, "violations": [{"policy_id": "p", "message": "m"}]}


def test_batch_bounds() -> None:
    with pytest.raises(ValidationError):
        SidecarBatch.model_validate_json(json.dumps({"events": []}))
    with pytest.raises(ValidationError):
        SidecarBatch.model_validate_json(json.dumps({"events": [EVENT] * 501}))
    assert (
        len(SidecarBatch.model_validate_json(json.dumps({"events": [EVENT] * 500})).events) == 500
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
