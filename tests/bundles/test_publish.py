"""Publishing: a real OPA pulls our bundles from a real MinIO (s3_signing) and over HTTP."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from minio import Minio

from bundles.bundle import BundleInfo, build_bundle
from bundles.publish import PublishError, parse_s3_url, publish_registry, publish_s3
from bundles.signing import SigningConfig
from tests.bundles.conftest import ROOTS, Keys, repack, sources
from tests.bundles.opa import OpaProcess, wait_for
from tests.support.servers import MinioServer

BUNDLE = "greenlang"


def _s3_env(minio: MinioServer) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": minio.access_key,
        "AWS_SECRET_ACCESS_KEY": minio.secret_key,
        "AWS_REGION": "us-east-1",
    }


def _s3_config(minio: MinioServer, bucket: str, key: str, **extra: Any) -> dict[str, Any]:
    """The OPA config that pulls s3://bucket/key from MinIO (path-style URL, SigV4)."""
    return {
        "services": {
            "s3": {
                "url": f"{minio.url}/{bucket}",
                "credentials": {"s3_signing": {"environment_credentials": {}}},
            }
        },
        "bundles": {
            BUNDLE: {
                "service": "s3",
                "resource": key,
                "polling": {"min_delay_seconds": 1, "max_delay_seconds": 2},
                **extra,
            }
        },
        "status": {"console": True},
    }


def _publish(info: BundleInfo, minio: MinioServer, target: str) -> None:
    published = publish_s3(
        info.path,
        target,
        endpoint=minio.endpoint,
        access_key=minio.access_key,
        secret_key=minio.secret_key,
    )
    assert published.revision == info.revision and published.sha256 == info.sha256


def _active_revision(opa: OpaProcess) -> str | None:
    status, body = opa.get_data(f"system/bundles/{BUNDLE}/manifest/revision")
    return body.get("result") if status == 200 else None


def _bundle_status(opa: OpaProcess) -> dict[str, Any]:
    status, body = opa.request("GET", "/v1/status")
    assert status == 200, body
    result: dict[str, Any] = body["result"]["bundles"][BUNDLE]
    return result


def test_parse_s3_url() -> None:
    assert parse_s3_url("s3://b/k/x.tar.gz") == ("b", "k/x.tar.gz")
    for bad in ("http://b/k", "s3://b", "s3://b/", "s3:///k", "s3://b/dir/"):
        with pytest.raises(PublishError):
            parse_s3_url(bad)


def test_opa_pulls_bundle_published_to_minio(
    policy_dir: Path, tmp_path: Path, minio_server: MinioServer
) -> None:
    bucket, key = f"opa-{secrets.token_hex(4)}", "bundles/greenlang.tar.gz"
    target = f"s3://{bucket}/{key}"
    v1 = build_bundle(sources(policy_dir, on=True), tmp_path / "v1.tar.gz", roots=ROOTS)
    _publish(v1, minio_server, target)  # creates the bucket

    client = Minio(
        minio_server.endpoint, minio_server.access_key, minio_server.secret_key, secure=False
    )
    stat = client.stat_object(bucket, key)
    assert stat.content_type == "application/gzip"
    assert stat.metadata is not None
    assert stat.metadata["x-amz-meta-revision"] == v1.revision

    config = tmp_path / "opa-config.json"
    config.write_text(json.dumps(_s3_config(minio_server, bucket, key)))
    with OpaProcess(
        tmp_path,
        ["--config-file", str(config)],
        env=_s3_env(minio_server),
        health_path="/health?bundles",  # 200 only once the bundle is activated
    ) as opa:
        assert _active_revision(opa) == v1.revision
        assert _bundle_status(opa)["active_revision"] == v1.revision
        assert opa.query("greenlang/decision/allow") is True

        v2 = build_bundle(sources(policy_dir, on=False), tmp_path / "v2.tar.gz", roots=ROOTS)
        assert v2.revision != v1.revision
        _publish(v2, minio_server, target)  # bucket exists now
        wait_for(
            lambda: _active_revision(opa) == v2.revision,
            timeout=30,
            what="OPA to activate the second revision",
        )
        assert opa.query("greenlang/decision/allow") is False
        assert _bundle_status(opa)["active_revision"] == v2.revision


def test_opa_pulls_signed_bundle_and_keeps_old_revision_on_tampering(
    policy_dir: Path, tmp_path: Path, minio_server: MinioServer, rsa_keys: Keys
) -> None:
    bucket, key = f"opa-{secrets.token_hex(4)}", "greenlang/bundle.tar.gz"
    target = f"s3://{bucket}/{key}"
    signing = SigningConfig(rsa_keys.private, keyid="greenlang-ci")
    v1 = build_bundle(sources(policy_dir), tmp_path / "v1.tar.gz", roots=ROOTS, signing=signing)
    _publish(v1, minio_server, target)

    cfg = _s3_config(minio_server, bucket, key, signing={"keyid": "greenlang-ci"})
    cfg["keys"] = {"greenlang-ci": {"algorithm": "RS256", "key": rsa_keys.public.read_text()}}
    config = tmp_path / "opa-config.json"
    config.write_text(json.dumps(cfg))
    with OpaProcess(
        tmp_path,
        ["--config-file", str(config)],
        env=_s3_env(minio_server),
        health_path="/health?bundles",
    ) as opa:
        assert _active_revision(opa) == v1.revision
        assert opa.query("greenlang/decision/allow") is True

        # flip the flag after signing: OPA must not activate it and must say why
        tampered = repack(
            v1.path,
            tmp_path / "tampered.tar.gz",
            {"greenlang/flags/data.json": b'{"on":false,"reason":"flag on"}'},
        )
        publish_s3(
            tampered,
            target,
            endpoint=minio_server.endpoint,
            access_key=minio_server.access_key,
            secret_key=minio_server.secret_key,
        )
        st = wait_for(
            lambda: (s := _bundle_status(opa)).get("code") and s,
            timeout=30,
            what="OPA to report the tampered bundle",
        )
        assert st["code"] == "bundle_error"
        assert "digest mismatch" in st["message"]
        assert st["active_revision"] == v1.revision
        assert any(
            r.get("level") == "error"
            and "Bundle load failed" in r.get("msg", "")
            and "digest mismatch" in r["msg"]
            for r in opa.log_records()
        )
        assert _active_revision(opa) == v1.revision
        assert opa.query("greenlang/decision/allow") is True

        # a properly signed new revision is taken
        v2 = build_bundle(
            sources(policy_dir, on=False), tmp_path / "v2.tar.gz", roots=ROOTS, signing=signing
        )
        _publish(v2, minio_server, target)
        wait_for(lambda: _active_revision(opa) == v2.revision, timeout=30, what="revision 2")
        assert opa.query("greenlang/decision/allow") is False
        assert "code" not in _bundle_status(opa)


def test_publish_s3_errors(tmp_path: Path, minio_server: MinioServer, policy_dir: Path) -> None:
    info = build_bundle(sources(policy_dir), tmp_path / "b.tar.gz", roots=ROOTS)
    with pytest.raises(PublishError, match="failed"):
        publish_s3(
            info.path,
            "s3://some-bucket/k.tar.gz",
            endpoint=minio_server.endpoint,
            access_key=minio_server.access_key,
            secret_key="wrong-secret",
        )
    not_a_bundle = tmp_path / "x.tar.gz"
    not_a_bundle.write_bytes(b"nope")
    with pytest.raises(PublishError, match="not publishing"):
        publish_s3(
            not_a_bundle,
            "s3://some-bucket/k.tar.gz",
            endpoint=minio_server.endpoint,
            access_key=minio_server.access_key,
            secret_key=minio_server.secret_key,
        )


# --- registry upload -------------------------------------------------------------------------
#
# The registry's bundle endpoint belongs to the registry; this stand-in is a few lines of
# stdlib HTTP server so the client's wire format (PUT, bearer token, application/gzip body)
# and the documented OPA `bearer` service config are exercised against real sockets.


class _BundleEndpoint(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, token: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token
        self.bundles: dict[str, bytes] = {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _BundleEndpoint
    prefix = "/api/v1/bundles/"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _authorized(self) -> bool:
        self.server.seen.append((self.command, self.path, dict(self.headers.items())))
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            self._reply(401, b'{"title":"unauthorized"}', "application/problem+json")
            return False
        return True

    def _reply(self, code: int, body: bytes, ctype: str, etag: str | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        if not self._authorized() or not self.path.startswith(self.prefix):
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.bundles[self.path[len(self.prefix) :]] = body
        etag = f'"{hashlib.sha256(body).hexdigest()}"'
        self._reply(201, b"{}", "application/json", etag)

    def do_GET(self) -> None:
        if not self._authorized():
            return
        body = self.server.bundles.get(self.path[len(self.prefix) :])
        if body is None:
            self._reply(404, b"{}", "application/problem+json")
            return
        etag = f'"{hashlib.sha256(body).hexdigest()}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self._reply(200, body, "application/gzip", etag)


@pytest.fixture
def bundle_endpoint() -> Iterator[_BundleEndpoint]:
    server = _BundleEndpoint(token=secrets.token_hex(8))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_publish_registry_and_opa_pulls_with_bearer_token(
    policy_dir: Path, tmp_path: Path, bundle_endpoint: _BundleEndpoint
) -> None:
    info = build_bundle(sources(policy_dir), tmp_path / "b.tar.gz", roots=ROOTS)
    published = publish_registry(info.path, bundle_endpoint.url, bundle_endpoint.token, BUNDLE)
    assert published.location == f"{bundle_endpoint.url}/api/v1/bundles/{BUNDLE}"
    assert published.revision == info.revision
    assert published.etag == f'"{info.sha256}"'
    method, path, headers = bundle_endpoint.seen[-1]
    assert (method, path) == ("PUT", f"/api/v1/bundles/{BUNDLE}")
    assert headers["Content-Type"] == "application/gzip"
    assert bundle_endpoint.bundles[BUNDLE] == info.path.read_bytes()

    with pytest.raises(PublishError, match="401"):
        publish_registry(info.path, bundle_endpoint.url, "wrong", BUNDLE)

    config = {
        "services": {
            "registry": {
                "url": f"{bundle_endpoint.url}/api/v1",
                "credentials": {"bearer": {"token": "${GREENLANG_REGISTRY_TOKEN}"}},
            }
        },
        "bundles": {
            BUNDLE: {
                "service": "registry",
                "resource": f"bundles/{BUNDLE}",
                "polling": {"min_delay_seconds": 1, "max_delay_seconds": 2},
            }
        },
    }
    (tmp_path / "opa-config.json").write_text(json.dumps(config))
    with OpaProcess(
        tmp_path,
        ["--config-file", str(tmp_path / "opa-config.json")],
        env={"GREENLANG_REGISTRY_TOKEN": bundle_endpoint.token},
        health_path="/health?bundles",
    ) as opa:
        assert _active_revision(opa) == info.revision
        assert opa.query("greenlang/decision/allow") is True
        # OPA polls with the ETag it got: the next poll is a conditional GET
        wait_for(
            lambda: any(
                m == "GET" and h.get("If-None-Match") == f'"{info.sha256}"'
                for m, _, h in list(bundle_endpoint.seen)
            ),
            timeout=15,
            what="a conditional poll",
        )
        gets = [h for m, _, h in bundle_endpoint.seen if m == "GET"]
        assert all(h["Authorization"] == f"Bearer {bundle_endpoint.token}" for h in gets)
