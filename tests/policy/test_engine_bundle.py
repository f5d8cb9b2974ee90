"""The embedded engine loaded from an assembled OPA bundle archive: the same decisions as from
directories and as a real OPA serving the same archive; signatures verified when a key is given;
one compile per bundle revision."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bundles.assemble import assemble
from bundles.bundle import BuiltBundle, pack_files, read_bundle_files
from bundles.compiler import compile_policies
from bundles.engines import EngineError
from bundles.engines.embedded import EmbeddedEngine, bundle_contents
from bundles.engines.opa_http import OpaHttpEngine
from bundles.layout import POLICY_INDEX_FILE, REGO_DIR, STOCK_DATA_DIR, STOCK_POLICY_DIR
from bundles.sidecar_data import sidecar_data_problems
from bundles.signing import SigningConfig
from bundles.sources import load_data
from tests.bundles.opa import OpaProcess
from tests.policy.conftest import fixture_data_overlay, load_fixtures
from tests.policy.test_engines import check_expected

HMAC_SECRET = "greenlang-test-secret-0123456789abcdef"
STOCK_SIDECAR = load_data([STOCK_DATA_DIR])["greenlang"]["sidecar"]
# Fixture sidecar entries made to be refused (their cases test the run-time check): a bundle
# build refuses them, so the bundle here has only the others, and their cases are left out.
REFUSED_AGENTS = {
    agent
    for agent, entry in load_fixtures()["data"]["sidecar"]["agents"].items()
    if sidecar_data_problems({**STOCK_SIDECAR, "agents": {agent: entry}})
}
CASES = {
    name: case
    for name, case in load_fixtures()["cases"].items()
    if case["input"].get("agent", {}).get("id") not in REFUSED_AGENTS
}


def _inputs() -> list[dict[str, Any]]:
    """Every fixture input as it is, with every type, and with no type."""
    out = []
    for case in CASES.values():
        everything = {k: v for k, v in case["input"].items() if k != "policy_types"}
        out += [case["input"], everything, {**everything, "policy_types": []}]
    return out


def test_refused_agents_are_the_malformed_ones() -> None:
    assert REFUSED_AGENTS == {"gl-bad-limits", "gl-unknown-mask"}


@pytest.fixture(scope="session")
def fixture_data_dir(tmp_path_factory: pytest.TempPathFactory, fixtures: dict[str, Any]) -> Path:
    """The stock data directory with the fixture role bindings, agent rate limits, token budgets
    and agent sidecar obligations."""
    out = tmp_path_factory.mktemp("bundle-data")
    shutil.copytree(STOCK_DATA_DIR, out, dirs_exist_ok=True)
    overlay = fixture_data_overlay(fixtures)["greenlang"]
    stock = load_data([STOCK_DATA_DIR])["greenlang"]
    rate_limits = {**stock["rate_limits"], "agents": overlay["rate_limits"]["agents"]}
    budgets = {**stock["token_budgets"], **overlay["token_budgets"]}
    agents = overlay["sidecar"]["agents"]
    kept = {agent: entry for agent, entry in agents.items() if agent not in REFUSED_AGENTS}
    sidecar = {**stock["sidecar"], "agents": kept}
    (out / "greenlang" / "users" / "data.json").write_text(json.dumps(overlay["users"]))
    (out / "greenlang" / "rate_limits" / "data.json").write_text(json.dumps(rate_limits))
    (out / "greenlang" / "token_budgets" / "data.json").write_text(json.dumps(budgets))
    (out / "greenlang" / "sidecar" / "data.json").write_text(json.dumps(sidecar))
    return out


def _assemble(fixtures: dict[str, Any], data_dir: Path, **kw: Any) -> BuiltBundle:
    return assemble(
        compile_policies([STOCK_POLICY_DIR]),
        catalog=fixtures["data"]["catalog"]["agents"],
        data_dirs=(data_dir,),
        **kw,
    )


@pytest.fixture(scope="session")
def built(fixtures: dict[str, Any], fixture_data_dir: Path) -> BuiltBundle:
    return _assemble(fixtures, fixture_data_dir)


@pytest.fixture(scope="session")
def signed(fixtures: dict[str, Any], fixture_data_dir: Path) -> BuiltBundle:
    return _assemble(fixtures, fixture_data_dir, signing=SigningConfig(HMAC_SECRET, "HS256"))


@pytest.fixture(scope="session")
def bundle_file(built: BuiltBundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bundle") / "greenlang.tar.gz"
    path.write_bytes(built.content)
    return path


@pytest.fixture(scope="session")
def from_bundle(bundle_file: Path) -> EmbeddedEngine:
    return EmbeddedEngine.from_bundle(bundle_file)


@pytest.fixture(scope="session")
def opa_bundle(bundle_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with OpaProcess(tmp_path_factory.mktemp("opa-bundle"), ["--bundle", str(bundle_file)]) as opa:
        yield opa.url


def test_bundle_holds_modules_and_data_at_their_paths(built: BuiltBundle) -> None:
    modules, data, revision = bundle_contents(read_bundle_files(built.content))
    assert revision == built.revision
    assert "greenlang/decision.rego" in modules
    assert "greenlang/policies/compliance_certified_active.rego" in modules
    greenlang = data["greenlang"]
    assert greenlang["policy_index"]["rate_limiting"] == [
        ["rate_limit", "rate-limit"],
        ["token_budget", "token-budget"],
        ["token_limit", "token-limit"],
    ]
    assert greenlang["token_budgets"]["default"] is None  # no budget unless one is set
    assert greenlang["sidecar"]["defaults"]["mask"] == ["email", "iban"]
    assert "gl-cbam-calculator" in greenlang["sidecar"]["agents"]
    assert greenlang["policy_meta"]["rate_limit"]["type"] == "rate_limiting"
    assert "gl-cbam-calculator" in greenlang["catalog"]["agents"]
    assert greenlang["rbac"]["roles"]["admin"] == {"actions": ["*"]}


def test_same_decisions_from_directories_and_from_the_bundle(
    embedded: EmbeddedEngine, from_bundle: EmbeddedEngine
) -> None:
    assert from_bundle.revision is not None
    for decision_input in _inputs():
        assert from_bundle.decide_sync(decision_input) == embedded.decide_sync(decision_input), (
            decision_input
        )


@pytest.mark.parametrize("name", sorted(CASES))
async def test_fixture_case_from_bundle_same_as_opa_serving_it(
    name: str, from_bundle: EmbeddedEngine, opa_bundle: str
) -> None:
    opa = OpaHttpEngine(opa_bundle)
    try:
        case = CASES[name]
        from_opa = await opa.decide(case["input"])
        check_expected(from_opa, case["expect"])
        assert await from_bundle.decide(case["input"]) == from_opa
    finally:
        await opa.close()


def test_bundle_bytes_and_file_load_the_same(built: BuiltBundle, bundle_file: Path) -> None:
    a = EmbeddedEngine.from_bundle(built.content)
    b = EmbeddedEngine.from_bundle(bundle_file)
    assert (a.revision, a.digest) == (b.revision, b.digest)
    case = CASES["rate_warns_from_80_percent"]["input"]
    assert a.decide_sync(case) == b.decide_sync(case)


def test_one_compile_per_bundle_revision(
    built: BuiltBundle,
    fixtures: dict[str, Any],
    fixture_data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = EmbeddedEngine.from_bundle(built.content)
    compiles: list[int] = []
    original = EmbeddedEngine.__init__

    def counting(self: EmbeddedEngine, *args: Any, **kwargs: Any) -> None:
        compiles.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(EmbeddedEngine, "__init__", counting)
    assert EmbeddedEngine.from_bundle(built.content, previous=first) is first
    assert compiles == []

    catalog = dict(fixtures["data"]["catalog"]["agents"])
    catalog["gl-cbam-calculator"] = {**catalog["gl-cbam-calculator"], "owner_team": "ops"}
    changed = assemble(
        compile_policies([STOCK_POLICY_DIR]), catalog=catalog, data_dirs=(fixture_data_dir,)
    )
    second = EmbeddedEngine.from_bundle(changed.content, previous=first)
    assert second is not first and compiles == [1]
    assert second.revision == changed.revision != first.revision


def test_signed_bundle_verified_and_loaded(
    signed: BuiltBundle, from_bundle: EmbeddedEngine
) -> None:
    engine = EmbeddedEngine.from_bundle(
        signed.content, verification_key=HMAC_SECRET, algorithm="HS256"
    )
    case = CASES["compliance_expired_certificate"]["input"]
    assert engine.decide_sync(case) == from_bundle.decide_sync(case)
    # without a key, a signed bundle loads like any other (as in OPA without a key)
    assert EmbeddedEngine.from_bundle(signed.content).digest == engine.digest


def _repack(content: bytes, changes: dict[str, bytes | None]) -> bytes:
    files = read_bundle_files(content)
    for name, new in changes.items():
        if new is None:
            files.pop(name, None)
        else:
            files[name] = new
    return pack_files(files)


def test_tampered_or_unsigned_bundle_refused(signed: BuiltBundle, built: BuiltBundle) -> None:
    files = read_bundle_files(signed.content)
    rbac = json.loads(files["greenlang/data.json"])
    rbac["rbac"]["roles"]["anyone"] = {"actions": ["*"]}  # a grant slipped into the data
    tampered_data = json.dumps(rbac).encode()
    cases = {
        "digest mismatch": _repack(signed.content, {"greenlang/data.json": tampered_data}),
        "not included in bundle signature": _repack(
            signed.content, {"greenlang/policies/evil.rego": b"package greenlang.policies.evil\n"}
        ),
        "specified in bundle signatures but not found": _repack(
            signed.content, {"greenlang/policies/rate_limit.rego": None}
        ),
        "has no .signatures.json": built.content,
    }
    for message, content in cases.items():
        with pytest.raises(EngineError, match=re.escape(message)):
            EmbeddedEngine.from_bundle(content, verification_key=HMAC_SECRET, algorithm="HS256")
    with pytest.raises(EngineError, match="does not verify"):
        EmbeddedEngine.from_bundle(
            signed.content,
            verification_key="another-secret-0123456789abcdef-0123",
            algorithm="HS256",
        )
    with pytest.raises(EngineError, match="scope mismatch"):
        EmbeddedEngine.from_bundle(
            signed.content, verification_key=HMAC_SECRET, algorithm="HS256", scope="write"
        )


def test_unusable_bundles_are_engine_errors(built: BuiltBundle, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="cannot read the bundle"):
        EmbeddedEngine.from_bundle(b"not a tarball")
    with pytest.raises(EngineError, match="cannot read the bundle"):
        EmbeddedEngine.from_bundle(tmp_path / "missing.tar.gz")
    broken = _repack(built.content, {"greenlang/catalog/data.json": b"{not json"})
    with pytest.raises(EngineError, match=re.escape("greenlang/catalog/data.json")):
        EmbeddedEngine.from_bundle(broken)
    clash = _repack(built.content, {"greenlang/rbac/data.json": b'{"roles": 1}'})
    with pytest.raises(EngineError, match="defined twice"):
        EmbeddedEngine.from_bundle(clash)
    without_decision = _repack(built.content, {"greenlang/decision.rego": None})
    # policy.wasm no longer matches the Rego beside it: compiled again, which fails
    with pytest.raises(EngineError, match=r"cannot build|undefined"):
        EmbeddedEngine.from_bundle(without_decision)


def test_data_files_merge_at_their_paths() -> None:
    files = {
        "data.json": b'{"top": 1, "a": {"x": 1}}',
        "a/b/data.json": b'{"y": 2}',
        "a/c/data.yaml": b"z: [1, 2]\n",
        "a/d/data.json": b"[1, 2]",
        "policy.rego": b"package a\n\nq := 1\n",
        ".manifest": b'{"revision": "r1", "roots": [""]}',
        "README.md": b"ignored",
    }
    modules, data, revision = bundle_contents(files)
    assert modules == {"policy.rego": "package a\n\nq := 1\n"}
    assert data == {"top": 1, "a": {"x": 1, "b": {"y": 2}, "c": {"z": [1, 2]}, "d": [1, 2]}}
    assert revision == "r1"
    with pytest.raises(EngineError, match="root"):
        bundle_contents({"data.json": b"[1]"})


def test_decisions_without_the_policy_index_are_the_same(
    compiled_dir: Path, embedded: EmbeddedEngine, engine_paths: list[Path], tmp_path: Path
) -> None:
    """A compile output from before the index: the decision falls back to the metadata."""
    old = tmp_path / "compiled"
    shutil.copytree(compiled_dir, old)
    (old / POLICY_INDEX_FILE).unlink()
    paths = [old if p == compiled_dir else p for p in engine_paths]
    assert REGO_DIR in paths
    without_index = EmbeddedEngine.from_paths(paths)
    for decision_input in _inputs():
        assert without_index.decide_sync(decision_input) == embedded.decide_sync(decision_input)


ECHO = "package greenlang.decision\n\nechoed := input\n\nsize := count(input)\n"
ROUND_TRIP = [
    {"s": "plain", "u": "é漢🌍 \u2028", "e": "", "n": None, "t": True, "f": False},
    {"ints": [0, -1, 1, 2**63 - 1, -(2**63)], "nested": {"a": {"b": [[], {}, [{}]]}}},
    {"q": 'a"b', "b": "a\\b", "c": "a\nb", "k": {'key"quoted': 1}},  # escaped: JSON text
    {"float": 1.5, "integral": 2.0},  # a float: JSON text
    [1, "two", None],
    "just a string",
    7,
    None,
]


@pytest.mark.parametrize("value", ROUND_TRIP, ids=range(len(ROUND_TRIP)))
def test_input_written_into_linear_memory_comes_back_unchanged(value: Any) -> None:
    engine = EmbeddedEngine({"greenlang/decision.rego": ECHO}, {})
    assert engine.decide_sync(value)["echoed"] == value
