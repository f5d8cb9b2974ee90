"""The embedded engine on OPA's Wasm compilation: what the bundle carries, what the signature
covers, failures as "no decision", threads, the memory cap and the compiled-module cache."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from bundles.bundle import BuiltBundle, pack_files, read_bundle_files
from bundles.engines import EngineError, wasm_runtime
from bundles.engines.embedded import EmbeddedEngine
from bundles.engines.wasm_builtins import parse_rfc3339_ns, sprintf
from bundles.wasm_build import WASM_FILE, rego_digest
from tests.policy.test_engine_bundle import (  # noqa: F401 - fixtures used here
    CASES,
    HMAC_SECRET,
    built,
    bundle_file,
    fixture_data_dir,
    from_bundle,
    signed,
)

CONFLICT = "package greenlang.decision\n\nallow := input.a\n\nallow := input.b if input.b\n"


def test_bundle_carries_policy_wasm_unlisted_in_the_manifest(built: BuiltBundle) -> None:  # noqa: F811
    files = read_bundle_files(built.content)
    assert files[WASM_FILE].startswith(b"\0asm")
    manifest = json.loads(files[".manifest"])
    assert "wasm" not in manifest  # an OPA without a Wasm runtime would refuse the bundle
    assert manifest["metadata"]["policy_wasm"]["rego_sha256"] == rego_digest(files)


def test_signature_covers_policy_wasm(signed: BuiltBundle) -> None:  # noqa: F811
    files = read_bundle_files(signed.content)
    files[WASM_FILE] = files[WASM_FILE] + b"\0"
    with pytest.raises(EngineError, match="refused"):
        EmbeddedEngine.from_bundle(
            pack_files(files), verification_key=HMAC_SECRET, algorithm="HS256"
        )


def test_a_policy_wasm_not_matching_the_rego_is_not_evaluated(built: BuiltBundle) -> None:  # noqa: F811
    """Rego edited after policy.wasm was compiled (the manifest's digest no longer matches):
    the Rego is compiled again and decides, never the stale module."""
    files = read_bundle_files(built.content)
    name = "greenlang/decision.rego"
    files[name] = files[name] + b'\nsource := "edited rego"\n'
    engine = EmbeddedEngine.from_bundle(pack_files(files))
    decision = engine.decide_sync(CASES["compliance_expired_certificate"]["input"])
    assert decision["source"] == "edited rego"
    assert decision["decision"] == "deny"


def test_evaluation_conflict_is_no_decision() -> None:
    engine = EmbeddedEngine({"d.rego": CONFLICT}, {})
    assert engine.decide_sync({"a": 1})["allow"] == 1
    with pytest.raises(EngineError):
        engine.decide_sync({"a": 1, "b": 2})
    assert engine.decide_sync({"a": 3}) == {"allow": 3}  # the instance is still usable


def test_threads_get_their_own_instances(from_bundle: EmbeddedEngine) -> None:  # noqa: F811
    inputs = [case["input"] for case in CASES.values()]
    expected = [from_bundle.decide_sync(i) for i in inputs]
    failures: list[Any] = []

    def run() -> None:
        for _ in range(3):
            got = [from_bundle.decide_sync(i) for i in inputs]
            if got != expected:
                failures.append(got)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_large_input_recycles_the_instance_and_the_cap_holds() -> None:
    engine = EmbeddedEngine(
        {"d.rego": "package greenlang.decision\n\nsize := count(input.s)\n"}, {}
    )
    engine.decide_sync({"s": "x"})
    pooled = len(engine._pool)
    big = "y" * (wasm_runtime.RECYCLE_BYTES + 1)
    assert engine.decide_sync({"s": big}) == {"size": len(big)}
    assert len(engine._pool) == pooled - 1 + 0  # the grown instance was dropped
    with pytest.raises(EngineError, match="memory"):
        engine.decide_sync({"s": "z" * (wasm_runtime.MAX_PAGES * wasm_runtime.PAGE)})
    assert engine.decide_sync({"s": "ok"}) == {"size": 2}


def test_compiled_module_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = {"d.rego": "package greenlang.decision\n\nallow := input.n == 41\n"}
    wasm = EmbeddedEngine(source, {})._policy_wasm  # opa is found through the cache too
    monkeypatch.setenv("GREENLANG_CACHE", str(tmp_path))
    wasm_runtime._compiled.clear()
    first = wasm_runtime.CompiledPolicy(wasm)
    assert [p.name.split("-")[0] for p in (tmp_path / "wasm").iterdir()] == [first.sha256]
    second = wasm_runtime.CompiledPolicy(wasm)  # from the file: same module, same answers
    engine = EmbeddedEngine(source, {}, wasm=wasm)
    assert second.entrypoints == first.entrypoints
    assert engine.decide_sync({"n": 41}) == {"allow": True}


def test_now_is_pinned_once_per_evaluation() -> None:
    rego = "package greenlang.decision\n\na := time.now_ns()\n\nb := time.now_ns()\n"
    engine = EmbeddedEngine({"d.rego": rego}, {})
    first, second = engine.decide_sync({}), engine.decide_sync({})
    assert first["a"] == first["b"] and second["a"] == second["b"]
    assert second["a"] >= first["a"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05Z", 1704164645000000000),
        ("2024-01-02T03:04:05.5+01:00", 1704161045500000000),
        ("2024-02-30T00:00:00Z", None),
        ("2024-01-02 03:04:05Z", None),
    ],
)
def test_parse_rfc3339_ns(text: str, expected: int | None) -> None:
    assert parse_rfc3339_ns(0, [text]) == expected


def test_sprintf_like_go() -> None:
    assert sprintf(0, ["%s=%d (%v) %.1f%%", ["a", 5, [1, "x"], 2.25]]) == 'a=5 ([1, "x"]) 2.2%'
    assert sprintf(0, ["%d", []]) == "%!d(MISSING)"
