"""A stock `opa run --server --bundle` loads our bundles, verifies signatures, refuses tampering."""

from __future__ import annotations

import json
from pathlib import Path

from bundles.bundle import build_bundle
from bundles.signing import SigningConfig
from tests.bundles.conftest import ROOTS, TRICKY, Keys, repack, sources
from tests.bundles.opa import OpaProcess


def test_opa_loads_bundle_and_answers_from_rego_and_data(policy_dir: Path, tmp_path: Path) -> None:
    info = build_bundle(sources(policy_dir, extra=TRICKY), tmp_path / "b.tar.gz", roots=ROOTS)
    with OpaProcess(tmp_path, ["--bundle", str(info.path)]) as opa:
        # rule over data
        assert opa.query("greenlang/decision/allow") is True
        assert opa.query("greenlang/decision/reason") == "flag on"
        # data document at its data path, exactly as written
        assert opa.query("greenlang/flags/extra") == json.loads(json.dumps(TRICKY))
        assert opa.query("greenlang/catalog/agents/carbon-calc/owner_team") == "climate"
        # module under a sub-directory of the rego source
        status, body = opa.request(
            "POST", "/v1/query", {"query": 'data.greenlang.lib.names.shout("hi", x)'}
        )
        assert status == 200 and body["result"][0]["x"] == "HI!", body
        # test files were left out of the bundle
        assert opa.query("greenlang/decision_test") is None
        # the manifest as OPA stored it
        status, body = opa.get_data("system/bundles")
        assert status == 200
        (manifest,) = [b["manifest"] for b in body["result"].values()]
        assert manifest == {"revision": info.revision, "roots": ROOTS, "rego_version": 1}

    off = build_bundle(sources(policy_dir, on=False), tmp_path / "off.tar.gz", roots=ROOTS)
    with OpaProcess(tmp_path, ["--bundle", str(off.path)]) as opa:
        assert opa.query("greenlang/decision/allow") is False


def _verify_args(keys: Keys, keyid: str = "greenlang-ci") -> list[str]:
    return ["--verification-key", str(keys.public), "--verification-key-id", keyid]


def test_opa_verifies_signed_bundle(policy_dir: Path, tmp_path: Path, rsa_keys: Keys) -> None:
    info = build_bundle(
        sources(policy_dir, extra=TRICKY),
        tmp_path / "s.tar.gz",
        roots=ROOTS,
        signing=SigningConfig(rsa_keys.private, keyid="greenlang-ci"),
    )
    with OpaProcess(tmp_path, ["--bundle", str(info.path), *_verify_args(rsa_keys)]) as opa:
        assert opa.query("greenlang/decision/allow") is True
        assert opa.query("greenlang/flags/extra") == json.loads(json.dumps(TRICKY))

    # the CLI key id names the key; the JWT's kid does not have to match it
    with OpaProcess(tmp_path, ["--bundle", str(info.path), *_verify_args(rsa_keys, "x")]) as opa:
        assert opa.query("greenlang/decision/allow") is True


def test_opa_refuses_tampered_or_unverifiable_bundles(
    policy_dir: Path, tmp_path: Path, rsa_keys: Keys
) -> None:
    info = build_bundle(
        sources(policy_dir),
        tmp_path / "s.tar.gz",
        roots=ROOTS,
        signing=SigningConfig(rsa_keys.private, keyid="greenlang-ci"),
    )
    flipped = b'{"on":false,"reason":"flag on"}'
    cases: list[tuple[str, Path, list[str]]] = [
        (
            "greenlang/flags/data.json: digest mismatch",
            repack(info.path, tmp_path / "t1.tar.gz", {"greenlang/flags/data.json": flipped}),
            _verify_args(rsa_keys),
        ),
        (
            "not included in bundle signature",
            repack(
                info.path, tmp_path / "t2.tar.gz", {"greenlang/evil.rego": b"package greenlang.e\n"}
            ),
            _verify_args(rsa_keys),
        ),
        (
            "specified in bundle signatures but not found",
            repack(info.path, tmp_path / "t3.tar.gz", {"greenlang/lib/names.rego": None}),
            _verify_args(rsa_keys),
        ),
        (
            "failed to verify JWT signature",  # signed by someone else
            info.path,
            ["--verification-key", str(rsa_keys.other_public), "--verification-key-id", "k"],
        ),
        ("verification key not provided", info.path, []),
        (
            "bundle missing .signatures.json",
            repack(info.path, tmp_path / "t4.tar.gz", {".signatures.json": None}),
            _verify_args(rsa_keys),
        ),
    ]
    for i, (message, bundle, extra) in enumerate(cases):
        opa = OpaProcess(tmp_path / f"case{i}", ["--bundle", str(bundle), *extra])
        rc = opa.start_expecting_exit()
        log = opa.log()
        assert rc != 0, log
        assert "load error" in log and message in log, (message, log)


def test_opa_verifies_hmac_signed_bundle_with_scope(policy_dir: Path, tmp_path: Path) -> None:
    secret = "greenlang-shared-secret-0123456789abcdef"
    info = build_bundle(
        sources(policy_dir),
        tmp_path / "h.tar.gz",
        roots=ROOTS,
        signing=SigningConfig(secret, algorithm="HS256", keyid="ci", scope="write"),
    )
    args = ["--bundle", str(info.path), "--verification-key", secret, "--signing-alg", "HS256"]
    with OpaProcess(tmp_path, [*args, "--scope", "write"]) as opa:
        assert opa.query("greenlang/decision/allow") is True
    # like OPA's flags, a key argument naming a file means the file's content
    (tmp_path / "secret.txt").write_text(secret)
    from_file = build_bundle(
        sources(policy_dir),
        tmp_path / "hf.tar.gz",
        roots=ROOTS,
        signing=SigningConfig(str(tmp_path / "secret.txt"), algorithm="HS256"),
    )
    file_args = ["--verification-key", str(tmp_path / "secret.txt"), "--signing-alg", "HS256"]
    with OpaProcess(tmp_path, ["--bundle", str(from_file.path), *file_args]) as opa:
        assert opa.query("greenlang/decision/allow") is True
    # OPA requires the signature's scope to equal its own
    opa = OpaProcess(tmp_path / "noscope", args)
    assert opa.start_expecting_exit() != 0
    assert "scope mismatch" in opa.log()
