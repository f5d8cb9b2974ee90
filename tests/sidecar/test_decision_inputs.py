"""The decision input kept in each audit event (sidecar/decision_input.py): what the engine was
asked, masked, size-capped, switchable off; re-deciding it gives the recorded verdict."""

from __future__ import annotations

from pathlib import Path

from bundles.engines.embedded import EmbeddedEngine
from registry.audit.sidecar_intake import SidecarBatch
from registry.replay.decide import redecide
from tests.sidecar import test_enforcer as base
from tests.sidecar.test_enforcer import (
    AGENT,
    CALC_BODY,
    MakeSidecar,
    catalog,
    sample,
    token,
    write_bundle,
)

agent_url, make_sidecar = base.agent_url, base.make_sidecar  # the fixtures

RATE = {"greenlang/rate_limits": {"agents": {AGENT: 3}}}


async def test_events_keep_the_input_and_replaying_it_gives_the_recorded_verdict(
    make_sidecar: MakeSidecar, tmp_path: Path
) -> None:
    bundle = write_bundle(tmp_path, catalog(status="DEPRECATED"), RATE)
    h = await make_sidecar(bundle=bundle)
    for _ in range(4):  # warn (deprecated) x3, then deny (rate)
        await h.call("POST", "/v1/calculate", json=CALC_BODY)
    await h.call("GET", "/admin/x")  # access-admin-paths denies
    events = h.sink.events
    assert [e["decision"] for e in events] == ["warn", "warn", "warn", "deny", "deny"]
    first = events[0]["input"]
    pre = first["pre"]
    assert pre["rate"] == {"current": 0, "window_s": 60} and isinstance(pre["now"], int)
    assert pre["user"] == {"id": "carla", "roles": ["operator"], "team": "cbam"}
    assert pre["policy_types"] == ["access_control", "rate_limiting", "compliance", "data_access"]
    assert first["post"]["usage"]["total_tokens"] == events[0]["tokens"]["total"]
    assert [e["input"]["pre"]["rate"]["current"] for e in events[:4]] == [0, 1, 2, 3]
    engine = EmbeddedEngine.from_bundle(bundle)
    assert [redecide(engine, e["input"]) for e in events] == [e["decision"] for e in events]
    SidecarBatch.model_validate({"events": events})  # what the registry accepts


async def test_inputs_are_masked_with_the_mask_obligation(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar()
    await h.call("GET", "/v1/factors/DE89370400440532013000", auth=token(sub="ops@acme.example"))
    await h.call("GET", "/admin/DE89370400440532013000", auth=token(sub="ops@acme.example"))
    for e in h.sink.events:  # allowed and denied alike
        pre = e["input"]["pre"]
        assert pre["user"]["id"] == "[REDACTED:email]"
        assert "DE89" not in pre["request"]["path"] and "[REDACTED:iban]" in pre["request"]["path"]


async def test_large_inputs_are_dropped_and_counted(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar()
    keeper = h.sidecar.enforcer.inputs
    assert keeper is not None
    keeper.max_bytes = 400
    await h.call("GET", "/v1/factors")
    await h.call("GET", "/v1/" + "x" * 400)
    small, large = h.sink.events
    assert small["input"] is not None and large["input"] is None
    assert (
        sample(await h.metrics(), "sidecar_decision_inputs_dropped_total", reason="too_large") == 1
    )


async def test_keeping_inputs_can_be_turned_off(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar(keep_decision_inputs=False)
    resp, _ = await h.call("GET", "/v1/factors")
    assert resp.status == 200
    assert h.sink.events[0]["input"] is None
    SidecarBatch.model_validate({"events": h.sink.events})
