"""The registry API with its artifacts in a real MinIO (the `s3://` artifact store)."""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import yaml
from minio import Minio

from registry.artifacts.s3 import S3ArtifactStore
from tests.api.conftest import Api, make_spec, start_api
from tests.support.servers import MinioServer


@pytest.fixture
async def s3_api(
    pool: asyncpg.Pool, tmp_path: Path, minio_server: MinioServer
) -> AsyncIterator[Api]:
    bucket = f"artifacts-{secrets.token_hex(4)}"
    store = S3ArtifactStore(
        minio_server.endpoint, bucket, minio_server.access_key, minio_server.secret_key
    )
    api = await start_api(pool, store, tmp_path)
    api.bucket = bucket  # type: ignore[attr-defined]
    yield api
    await api.client.close()
    await store.close()


def form(spec: dict, blob: bytes) -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field("spec", yaml.safe_dump(spec), filename="agent.yaml")
    f.add_field("artifact", blob, filename="artifact.tar.gz")
    return f


async def test_register_and_download_through_minio(s3_api: Api, minio_server: MinioServer) -> None:
    blob = secrets.token_bytes(900 * 1024 + 7)  # several chunks, under the test limit
    r = await s3_api.call("POST", "/api/v1/agents", data=form(make_spec(), blob))
    assert r.status == 201, await r.text()
    assert "artifact_uri" not in (await r.json())["versions"][0]  # no storage location shown
    uri = await s3_api.pool.fetchval("SELECT artifact_uri FROM agent_versions")
    assert uri.startswith(f"s3://{s3_api.bucket}/sha256/")  # type: ignore[attr-defined]
    r = await s3_api.call("GET", "/api/v1/agents/gl-cbam-calculator/versions/1.0.0/artifact")
    assert await r.read() == blob
    assert r.headers["ETag"] == f'"{hashlib.sha256(blob).hexdigest()}"'

    # Tamper with the object behind the registry's back: the download must not complete.
    client = Minio(
        minio_server.endpoint, minio_server.access_key, minio_server.secret_key, secure=False
    )
    key = uri.split("/", 3)[3]
    forged = b"f" * len(blob)
    client.put_object(s3_api.bucket, key, io.BytesIO(forged), len(forged))  # type: ignore[attr-defined]
    r = await s3_api.call("GET", "/api/v1/agents/gl-cbam-calculator/versions/1.0.0/artifact")
    with pytest.raises(aiohttp.ClientPayloadError):
        await r.read()


async def test_losing_registrations_leave_no_objects(
    s3_api: Api, minio_server: MinioServer
) -> None:
    assert (
        await s3_api.call("POST", "/api/v1/agents", data=form(make_spec(), b"one"))
    ).status == 201
    assert (
        await s3_api.call("POST", "/api/v1/agents", data=form(make_spec(), b"two"))
    ).status == 409
    r = await s3_api.call(
        "POST",
        "/api/v1/agents",
        "other_publisher",
        data=form(make_spec("gl-x", metadata={"team": "csrd-team"}), b"three"),
    )
    assert r.status == 201
    r = await s3_api.call(
        "POST",
        "/api/v1/agents",
        "other_publisher",
        data=form(make_spec(version="9.0.0", metadata={"team": "csrd-team"}), b"four"),
    )
    assert r.status == 409
    client = Minio(
        minio_server.endpoint, minio_server.access_key, minio_server.secret_key, secure=False
    )
    objects = list(client.list_objects(s3_api.bucket, recursive=True))  # type: ignore[attr-defined]
    assert len(objects) == 2
