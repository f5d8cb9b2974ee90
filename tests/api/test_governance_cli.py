"""`greenlang-governance` as a user runs it (subprocesses), against the real registry, OPA and
MinIO."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from minio import Minio

from bundles.bundle import read_bundle_files, read_revision
from tests.api.conftest import Api, make_spec
from tests.api.lifecycle_support import AGENT, AGENT_ID, certify, register, with_stock_policies
from tests.support.servers import MinioServer

STOCK = Path(__file__).resolve().parents[2] / "bundles" / "policies"


async def gov(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bundles.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def registry_env(api: Api, who: str = "admin") -> dict[str, str]:
    return {
        "GREENLANG_REGISTRY_URL": str(api.client.make_url("/")).rstrip("/"),
        "GREENLANG_TOKEN": api.tokens[who],
    }


async def test_policy_test_runs_opa_test() -> None:
    code, out, _ = await gov("policy", "test")
    assert code == 0 and "PASS" in out


async def test_policy_test_without_opa_says_how_to_get_it(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "GREENLANG_CACHE": str(tmp_path), "GREENLANG_OPA_BIN": ""}
    code, _, err = await gov("policy", "test", env=env)
    assert code == 1 and err.count("\n") == 1, err
    assert "GREENLANG_OPA_BIN" in err and "go install github.com/open-policy-agent/opa@v" in err


async def test_policy_test_reports_invalid_policies(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        (STOCK / "certification-required.yaml")
        .read_text()
        .replace("operator: equals", "operator: resembles")
    )
    code, _, err = await gov("policy", "test", str(tmp_path))
    assert code == 2 and "bad.yaml:" in err and "resembles" in err


async def test_decide_exit_codes(tmp_path: Path) -> None:
    deny = tmp_path / "deny.json"
    deny.write_text(
        json.dumps(
            {
                "action": "invoke",
                "policy_types": ["compliance"],
                "agent": {"id": "gl-x", "status": "RETIRED"},
            }
        )
    )
    code, out, _ = await gov("decide", "--input", str(deny))
    assert code == 3 and json.loads(out)["decision"] == "deny"
    allow = tmp_path / "allow.json"
    allow.write_text(
        json.dumps(
            {
                "input": {
                    "action": "invoke",
                    "policy_types": ["compliance"],
                    "agent": {
                        "id": "gl-x",
                        "status": "ACTIVE",
                        "certificate_id": "c-1",
                        "certificate_expires_at": 4102444800000000000,
                    },
                    "now": 1767225600000000000,
                }
            }
        )
    )
    code, out, err = await gov("decide", "--input", str(allow))
    assert code == 0, err
    assert json.loads(out)["decision"] in ("allow", "warn")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    assert (await gov("decide", "--input", str(bad)))[0] == 2
    code, _, err = await gov("decide", "--input", str(allow), "--engine", "http://127.0.0.1:9")
    assert code == 1 and err.startswith("error:")


async def test_decide_with_the_registrys_catalog(api: Api, tmp_path: Path) -> None:
    """An agent ACTIVE and certified in the registry: the stock policies with an empty catalog
    deny it (and say so), the registry's bundle allows it."""
    await with_stock_policies(api)
    await register(api)
    await certify(api)
    r = await api.call("PATCH", f"{AGENT}/versions/1.0.0", "approver", json={"status": "active"})
    assert r.status == 200, await r.text()
    call = tmp_path / "call.json"
    agent = {"id": AGENT_ID, "version": "1.0.0"}
    call.write_text(
        json.dumps({"action": "invoke", "policy_types": ["compliance"], "agent": agent})
    )

    code, out, err = await gov("decide", "--input", str(call))
    assert code == 3 and json.loads(out)["decision"] == "deny"
    assert "empty agent catalog" in err
    env = registry_env(api, "viewer")
    url = env.pop("GREENLANG_REGISTRY_URL")
    code, out, err = await gov("decide", "--input", str(call), "--registry", url, env=env)
    assert code == 0, out + err
    assert json.loads(out)["decision"] in ("allow", "warn")
    assert f"the registry's bundle at {url}, revision " in err
    code, _, err = await gov(
        "decide", "--input", str(call), "--registry", "http://127.0.0.1:9", env=env
    )
    assert code == 1 and "cannot reach the registry" in err


async def test_bundle_build_with_registry_catalog_and_publish(
    api: Api, tmp_path: Path, minio_server: MinioServer
) -> None:
    await api.register(make_spec())
    out = tmp_path / "bundle.tar.gz"
    code, stdout, err = await gov("bundle", "build", "--output", str(out), env=registry_env(api))
    assert code == 0, err
    files = read_bundle_files(out)
    data = json.loads(files["greenlang/data.json"])
    assert data["catalog"]["agents"]["gl-cbam-calculator"]["versions"]["1.0.0"]["status"] == "DRAFT"
    revision = read_revision(out)
    assert revision in stdout

    code, stdout, err = await gov(
        "bundle",
        "publish",
        str(out),
        "--to",
        "registry",
        "--name",
        "ci",
        env=registry_env(api, "approver"),
    )
    assert code == 0, err
    r = await api.call("GET", "/api/v1/bundles/ci")
    assert r.headers["ETag"] == f'"{revision}"'

    s3_env = {
        "AWS_ACCESS_KEY_ID": minio_server.access_key,
        "AWS_SECRET_ACCESS_KEY": minio_server.secret_key,
    }
    code, _, err = await gov(
        "bundle",
        "publish",
        str(out),
        "--to",
        "s3://bundles/gl/bundle.tar.gz",
        "--endpoint",
        f"http://{minio_server.endpoint}",
        env=s3_env,
    )
    assert code == 0, err
    client = Minio(
        minio_server.endpoint, minio_server.access_key, minio_server.secret_key, secure=False
    )
    obj = client.get_object("bundles", "gl/bundle.tar.gz")
    try:
        assert obj.read() == out.read_bytes()
    finally:
        obj.close()
        obj.release_conn()
    code, _, err = await gov("bundle", "publish", str(out), "--to", "ftp://x")
    assert code == 2


async def test_signed_bundle_build(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    out = tmp_path / "signed.tar.gz"
    code, stdout, err = await gov(
        "bundle", "build", "--output", str(out), "--signing-key", str(pem), "--key-id", "ci"
    )
    assert code == 0, err
    assert "(signed)" in stdout and ".signatures.json" in read_bundle_files(out)
