"""Bundle layout, determinism, revision rule, and signatures checked by us and by `opa sign`."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import jwt
import pytest

from bundles.bundle import (
    BundleError,
    BundleSource,
    DataDocument,
    RegoDir,
    RegoModule,
    build_bundle,
    build_bundle_bytes,
    read_bundle_files,
    read_manifest,
    read_revision,
)
from bundles.signing import (
    SIGNATURES_FILE,
    SignatureError,
    SigningConfig,
    file_digest,
    read_signature_claims,
    verify_signatures,
)
from tests.bundles.conftest import DECISION_REGO, ROOTS, TRICKY, Keys, repack, sources
from tests.support.servers import find_binary


def test_layout_and_manifest(policy_dir: Path, tmp_path: Path) -> None:
    info = build_bundle(sources(policy_dir), tmp_path / "b.tar.gz", roots=ROOTS)

    assert info.files == (
        ".manifest",
        "greenlang/catalog/data.json",
        "greenlang/decision.rego",
        "greenlang/flags/data.json",
        "greenlang/lib/names.rego",
    )
    assert not info.signed
    assert info.sha256 == hashlib.sha256(info.path.read_bytes()).hexdigest()
    assert info.size == info.path.stat().st_size

    files = read_bundle_files(info.path)
    assert files["greenlang/decision.rego"] == DECISION_REGO.encode()
    assert json.loads(files["greenlang/flags/data.json"]) == {"on": True, "reason": "flag on"}
    manifest = read_manifest(info.path)
    assert manifest == {"revision": info.revision, "roots": ["greenlang"], "rego_version": 1}
    assert read_revision(info.path) == info.revision
    assert len(info.revision) == 64

    with tarfile.open(info.path) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.mode, m.uname, m.gname) == (0, 0, 0, 0o644, "", "")
        assert m.isreg()
    # gzip header: no file name, mtime 0
    raw = info.path.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0" and not raw[3] & 0x08


def test_identical_inputs_give_byte_identical_bundles(policy_dir: Path, tmp_path: Path) -> None:
    a = build_bundle(sources(policy_dir), tmp_path / "a.tar.gz", roots=ROOTS)
    # same content, different mtimes and source order of data keys
    for p in policy_dir.rglob("*.rego"):
        p.touch()
    srcs = sources(policy_dir)
    srcs[1] = DataDocument("greenlang/flags", {"reason": "flag on", "on": True})
    b = build_bundle(srcs, tmp_path / "b.tar.gz", roots=ROOTS)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert (a.revision, a.sha256) == (b.revision, b.sha256)


def test_any_change_gives_a_new_revision(policy_dir: Path, tmp_path: Path) -> None:
    base = build_bundle_bytes(sources(policy_dir), roots=ROOTS).revision
    seen = {base}

    def new(srcs: list[BundleSource], roots: list[str] = ROOTS, **meta: str) -> None:
        r = build_bundle_bytes(srcs, roots=roots, metadata=meta or None).revision
        assert r not in seen
        seen.add(r)

    new(sources(policy_dir, on=False))  # a data value
    new(sources(policy_dir, reason="x"))
    new(sources(policy_dir), roots=["greenlang", "other"])  # the roots
    new(sources(policy_dir), built_by="ci")  # the metadata
    new([*sources(policy_dir), RegoModule("greenlang/x.rego", "package greenlang.x\n")])
    (policy_dir / "decision.rego").write_text(DECISION_REGO + "\n# comment\n")  # rego bytes
    new(sources(policy_dir))
    # a renamed file with the same bytes is a change too
    (policy_dir / "lib" / "names.rego").rename(policy_dir / "lib" / "renamed.rego")
    new(sources(policy_dir))
    # signing does not change the revision (the signature covers the manifest, not vice versa)
    assert build_bundle_bytes(sources(policy_dir), roots=ROOTS).revision in seen


def test_signing_does_not_change_revision_and_is_deterministic(
    policy_dir: Path, tmp_path: Path, rsa_keys: Keys
) -> None:
    plain = build_bundle_bytes(sources(policy_dir), roots=ROOTS)
    cfg = SigningConfig(rsa_keys.private, keyid="greenlang-ci")
    s1 = build_bundle_bytes(sources(policy_dir), roots=ROOTS, signing=cfg)
    s2 = build_bundle_bytes(sources(policy_dir), roots=ROOTS, signing=cfg)
    assert s1.revision == plain.revision
    assert s1.content == s2.content
    assert s1.signed and SIGNATURES_FILE in s1.files


def test_test_files_included_on_request(policy_dir: Path) -> None:
    built = build_bundle_bytes(
        [RegoDir(policy_dir, prefix="greenlang", include_tests=True)], roots=ROOTS
    )
    assert "greenlang/decision_test.rego" in built.files


@pytest.mark.parametrize(
    ("srcs", "roots", "message"),
    [
        ([DataDocument("other/x", {"a": 1})], ["greenlang"], "outside the bundle roots"),
        ([DataDocument("", {"greenlang": {"a": 1}, "x": 1})], ["greenlang"], "outside"),
        ([RegoModule("p.rego", "package other.p\n")], ["greenlang"], "package other.p"),
        (
            [DataDocument("greenlang/a", 1), DataDocument("greenlang/a/", 2)],
            ["greenlang"],
            "two sources",
        ),
        ([DataDocument("", [1])], ["greenlang"], "must be a JSON object"),
        ([DataDocument("greenlang/../x", 1)], ["greenlang"], "invalid segment"),
        ([DataDocument("greenlang/x", float("nan"))], ["greenlang"], "not JSON-serializable"),
        ([DataDocument("greenlang/x", {1, 2})], ["greenlang"], "not JSON-serializable"),
        ([RegoModule(".manifest", "x")], ["greenlang"], "must end in .rego"),
        ([], ["greenlang", "greenlang/flags"], "overlap"),
        ([], [], "at least one root"),
        ([RegoDir(Path("/nonexistent/dir"))], ["greenlang"], "not a directory"),
    ],
)
def test_invalid_inputs_are_refused(
    srcs: list[BundleSource], roots: list[str], message: str
) -> None:
    with pytest.raises(BundleError, match=message):
        build_bundle_bytes(srcs, roots=roots)


def test_directory_data_files_on_request(policy_dir: Path) -> None:
    (policy_dir / "meta").mkdir()
    (policy_dir / "meta" / "data.json").write_text('{ "b": 1,\n  "a": [2.50] }')
    plain = build_bundle_bytes([RegoDir(policy_dir, prefix="greenlang")], roots=ROOTS)
    assert "greenlang/meta/data.json" not in plain.files
    built = build_bundle_bytes(
        [RegoDir(policy_dir, prefix="greenlang", include_data=True)], roots=ROOTS
    )
    files = read_bundle_files_from_bytes(built.content)
    assert files["greenlang/meta/data.json"] == b'{"a":[2.5],"b":1}'
    (policy_dir / "meta" / "data.json").write_text("{nope")
    with pytest.raises(BundleError, match="not valid JSON"):
        build_bundle_bytes([RegoDir(policy_dir, include_data=True)], roots=ROOTS)


def read_bundle_files_from_bytes(content: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


def test_data_above_the_roots_is_fine_when_its_leaves_are_inside() -> None:
    built = build_bundle_bytes(
        [DataDocument("", {"greenlang": {"flags": {"on": True}}})], roots=["greenlang/flags"]
    )
    assert "data.json" in built.files


def test_read_manifest_of_garbage_fails(tmp_path: Path) -> None:
    p = tmp_path / "x.tar.gz"
    p.write_bytes(gzip.compress(b"not a tar"))
    with pytest.raises(BundleError):
        read_manifest(p)


# --- signatures --------------------------------------------------------------------------------


def test_signature_claims_and_our_verification(
    policy_dir: Path, tmp_path: Path, rsa_keys: Keys
) -> None:
    info = build_bundle(
        sources(policy_dir, extra=TRICKY),
        tmp_path / "s.tar.gz",
        roots=ROOTS,
        signing=SigningConfig(rsa_keys.private, keyid="greenlang-ci"),
    )
    files = read_bundle_files(info.path)
    doc = json.loads(files[SIGNATURES_FILE])
    assert list(doc) == ["signatures"] and len(doc["signatures"]) == 1
    header = jwt.get_unverified_header(doc["signatures"][0])
    assert header["alg"] == "RS256" and header["kid"] == "greenlang-ci"
    claims = read_signature_claims(info.path)
    assert claims["keyid"] == "greenlang-ci" and "scope" not in claims
    assert [f["name"] for f in claims["files"]] == [n for n in info.files if n != SIGNATURES_FILE]
    for f in claims["files"]:
        assert f["algorithm"] == "SHA-256"
        assert f["hash"] == file_digest(f["name"], files[f["name"]])
    # rego files hash as raw bytes
    rego = files["greenlang/decision.rego"]
    assert file_digest("greenlang/decision.rego", rego) == hashlib.sha256(rego).hexdigest()

    checked = verify_signatures(info.path, rsa_keys.public)
    assert set(checked.files) == set(info.files) - {SIGNATURES_FILE}

    with pytest.raises(SignatureError, match="does not verify"):
        verify_signatures(info.path, rsa_keys.other_public)
    with pytest.raises(SignatureError, match="scope mismatch"):
        verify_signatures(info.path, rsa_keys.public, scope="write")


def test_json_files_hash_canonically() -> None:
    """Whitespace and key order in data.json/.manifest do not change their digest."""
    a = b'{"b": [1, 2.50, {"y": null, "x": "\\u00e9"}], "a": true}'
    b = '{"a":true,"b":[1,2.50,{"x":"é","y":null}]}'.encode()
    assert file_digest("x/data.json", a) == file_digest("x/data.json", b)
    # numbers are kept as written (Go json.Number): 2.5 is not 2.50
    c = b'{"a":true,"b":[1,2.5,{"x":"\\u00e9","y":null}]}'
    assert file_digest("x/data.json", a) != file_digest("x/data.json", c)
    # not structured: raw bytes
    assert file_digest("x/other.json", a) == hashlib.sha256(a).hexdigest()


def test_tampering_is_detected_by_our_verification(
    policy_dir: Path, tmp_path: Path, rsa_keys: Keys
) -> None:
    info = build_bundle(
        sources(policy_dir),
        tmp_path / "s.tar.gz",
        roots=ROOTS,
        signing=SigningConfig(rsa_keys.private, keyid="k"),
    )
    flags = b'{"on":false,"reason":"flag on"}'
    cases: dict[str, dict[str, bytes | None]] = {
        "digest mismatch": {"greenlang/flags/data.json": flags},
        "not included in bundle signature": {"greenlang/evil.rego": b"package greenlang.evil\n"},
        "not found in the bundle": {"greenlang/lib/names.rego": None},
        "has no .signatures.json": {SIGNATURES_FILE: None},
    }
    for i, (message, change) in enumerate(cases.items()):
        bad = repack(info.path, tmp_path / f"bad{i}.tar.gz", change)
        with pytest.raises(SignatureError, match=message):
            verify_signatures(bad, rsa_keys.public)
    # a re-formatted data.json with the same content still verifies (canonical hashing)
    pretty = json.dumps({"reason": "flag on", "on": True}, indent=4).encode()
    ok = repack(info.path, tmp_path / "ok.tar.gz", {"greenlang/flags/data.json": pretty})
    verify_signatures(ok, rsa_keys.public)


def test_hmac_signing(policy_dir: Path, tmp_path: Path) -> None:
    secret = "s3cr3t-shared-between-ci-and-opa-0123456789"
    info = build_bundle(
        sources(policy_dir),
        tmp_path / "h.tar.gz",
        roots=ROOTS,
        signing=SigningConfig(secret, algorithm="HS256", scope="read"),
    )
    assert read_signature_claims(info.path)["scope"] == "read"
    verify_signatures(info.path, secret, algorithm="HS256", scope="read")
    with pytest.raises(SignatureError):
        verify_signatures(
            info.path, "wrong-secret-wrong-secret-wrong-secret", algorithm="HS256", scope="read"
        )


def test_unsupported_algorithm_is_refused(rsa_keys: Keys) -> None:
    with pytest.raises(SignatureError, match="unsupported"):
        SigningConfig(rsa_keys.private, algorithm="none")


def test_hashes_match_opa_sign(policy_dir: Path, tmp_path: Path, rsa_keys: Keys) -> None:
    """`opa sign` over the unpacked bundle lists the same digests we put in our JWT."""
    info = build_bundle(
        sources(policy_dir, extra=TRICKY),
        tmp_path / "s.tar.gz",
        roots=ROOTS,
        signing=SigningConfig(rsa_keys.private),
    )
    unpacked = tmp_path / "unpacked"
    for name, content in read_bundle_files(info.path).items():
        if name == SIGNATURES_FILE:
            continue
        (unpacked / name).parent.mkdir(parents=True, exist_ok=True)
        (unpacked / name).write_bytes(content)
    out = tmp_path / "opa-sign"
    out.mkdir()
    subprocess.run(
        [
            find_binary("opa"),
            "sign",
            "--bundle",
            "unpacked",
            "--signing-key",
            str(rsa_keys.private),
            "--output-file-path",
            str(out),
        ],
        cwd=tmp_path,
        check=True,
        timeout=60,
        capture_output=True,
    )
    token = json.loads((out / SIGNATURES_FILE).read_text())["signatures"][0]
    theirs = {
        f["name"].removeprefix("unpacked/"): f["hash"]
        for f in jwt.decode(token, options={"verify_signature": False})["files"]
    }
    ours = {f["name"]: f["hash"] for f in read_signature_claims(info.path)["files"]}
    assert theirs == ours
