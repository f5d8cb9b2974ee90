"""ArtifactStore contract: one suite, run against the filesystem store and a real MinIO."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from minio import Minio

from registry.artifacts import CHUNK_SIZE, artifact_store_from_url
from registry.artifacts.filesystem import FilesystemArtifactStore
from registry.artifacts.port import ArtifactIntegrityError, ArtifactNotFound, ArtifactStore
from registry.artifacts.s3 import S3ArtifactStore
from tests.support.servers import MinioServer

Tamper = Callable[[str, bytes], Awaitable[None]]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fresh_bucket() -> str:
    return f"t-{secrets.token_hex(8)}"


def minio_client(server: MinioServer) -> Minio:
    return Minio(server.endpoint, server.access_key, server.secret_key, secure=False)


@pytest.fixture(params=["filesystem", "minio"])
async def artifact_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ArtifactStore]:
    store: ArtifactStore
    if request.param == "filesystem":
        store = FilesystemArtifactStore(tmp_path / "store")
    else:
        server: MinioServer = request.getfixturevalue("minio_server")
        store = S3ArtifactStore(
            server.endpoint, fresh_bucket(), server.access_key, server.secret_key
        )
    yield store
    await store.close()


@pytest.fixture
def tamper(request: pytest.FixtureRequest, artifact_store: ArtifactStore) -> Tamper:
    """Overwrite a stored blob behind the store's back (disk write / direct S3 put)."""

    async def tamper(uri: str, data: bytes) -> None:
        if isinstance(artifact_store, FilesystemArtifactStore):
            await asyncio.to_thread(Path(urlsplit(uri).path).write_bytes, data)
        else:
            assert isinstance(artifact_store, S3ArtifactStore)
            client = minio_client(request.getfixturevalue("minio_server"))
            key = urlsplit(uri).path.lstrip("/")
            await asyncio.to_thread(
                client.put_object, artifact_store.bucket, key, io.BytesIO(data), len(data)
            )

    return tamper


def write(tmp_path: Path, data: bytes, name: str | None = None) -> Path:
    path = tmp_path / (name or f"in-{secrets.token_hex(4)}")
    path.write_bytes(data)
    return path


async def read_all(store: ArtifactStore, uri: str, sha256: str) -> list[bytes]:
    return [chunk async for chunk in store.open(uri, sha256)]


async def test_put_then_open_round_trips_and_uri_is_stable(
    artifact_store: ArtifactStore, tmp_path: Path
) -> None:
    data = b"agent pack bytes\n" * 100
    first = await artifact_store.put_file(write(tmp_path, data), sha(data), len(data))
    assert (first.sha256, first.size) == (sha(data), len(data))
    assert await artifact_store.exists(first.uri)
    assert b"".join(await read_all(artifact_store, first.uri, sha(data))) == data

    again = await artifact_store.put_file(write(tmp_path, data), sha(data), len(data))
    assert again == first


async def test_concurrent_puts_of_same_content_agree(
    artifact_store: ArtifactStore, tmp_path: Path
) -> None:
    data = os.urandom(200_000)
    paths = [write(tmp_path, data) for _ in range(4)]
    results = await asyncio.gather(
        *(artifact_store.put_file(p, sha(data), len(data)) for p in paths)
    )
    assert len({r.uri for r in results}) == 1
    assert b"".join(await read_all(artifact_store, results[0].uri, sha(data))) == data


@pytest.mark.parametrize("lie", ["sha256", "size"])
async def test_put_with_wrong_digest_or_size_stores_nothing(
    artifact_store: ArtifactStore, tmp_path: Path, lie: str
) -> None:
    data, other = b"real bytes", b"claimed bytes"
    claimed_sha = sha(other) if lie == "sha256" else sha(data)
    claimed_size = len(data) + (1 if lie == "size" else 0)
    with pytest.raises(ArtifactIntegrityError):
        await artifact_store.put_file(write(tmp_path, data), claimed_sha, claimed_size)

    # The URI the claimed digest would have had (derived from another blob's) must not exist...
    probe = await artifact_store.put_file(write(tmp_path, b"probe"), sha(b"probe"), 5)
    p = sha(b"probe")
    claimed_uri = probe.uri.replace(f"{p[:2]}/{p}", f"{claimed_sha[:2]}/{claimed_sha}")
    assert not await artifact_store.exists(claimed_uri)
    # ...and is exactly where the honest bytes for that digest land.
    honest = data if lie == "size" else other
    stored = await artifact_store.put_file(write(tmp_path, honest), claimed_sha, len(honest))
    assert stored.uri == claimed_uri
    assert await artifact_store.exists(claimed_uri)


async def test_put_with_wrong_digest_fails_even_if_blob_exists(
    artifact_store: ArtifactStore, tmp_path: Path
) -> None:
    data = b"stored first"
    await artifact_store.put_file(write(tmp_path, data), sha(data), len(data))
    with pytest.raises(ArtifactIntegrityError):
        await artifact_store.put_file(write(tmp_path, b"different!!!"), sha(data), len(data))


async def test_malformed_digest_is_rejected(artifact_store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await artifact_store.put_file(write(tmp_path, b"x"), "../../etc/passwd", 1)


@pytest.mark.parametrize("replacement", ["same-size", "longer"])
async def test_corrupted_blob_fails_integrity_on_open(
    artifact_store: ArtifactStore, tmp_path: Path, tamper: Tamper, replacement: str
) -> None:
    data = b"trusted" * 1000
    stored = await artifact_store.put_file(write(tmp_path, data), sha(data), len(data))
    bad = b"X" + data[1:] if replacement == "same-size" else data + b"!"
    await tamper(stored.uri, bad)
    received = b""
    with pytest.raises(ArtifactIntegrityError):
        async for chunk in artifact_store.open(stored.uri, sha(data)):
            received += chunk
    # The error comes after the last chunk, so a streaming reader saw all bytes first.
    assert received == bad


async def test_open_with_wrong_expected_digest_fails(
    artifact_store: ArtifactStore, tmp_path: Path
) -> None:
    data = b"some bytes"
    stored = await artifact_store.put_file(write(tmp_path, data), sha(data), len(data))
    with pytest.raises(ArtifactIntegrityError):
        await read_all(artifact_store, stored.uri, sha(b"other"))


async def test_delete_then_missing(artifact_store: ArtifactStore, tmp_path: Path) -> None:
    data = b"to be deleted"
    stored = await artifact_store.put_file(write(tmp_path, data), sha(data), len(data))
    await artifact_store.delete(stored.uri)
    assert not await artifact_store.exists(stored.uri)
    with pytest.raises(ArtifactNotFound):
        await read_all(artifact_store, stored.uri, sha(data))
    await artifact_store.delete(stored.uri)  # idempotent


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/passwd",
        "s3://some-other-bucket/sha256/ab/" + "ab" * 32,
        "http://example.com/sha256/ab/" + "ab" * 32,
        "garbage",
    ],
)
async def test_foreign_uris_are_not_found(artifact_store: ArtifactStore, uri: str) -> None:
    assert not await artifact_store.exists(uri)
    with pytest.raises(ArtifactNotFound):
        await read_all(artifact_store, uri, "ab" * 32)
    with pytest.raises(ArtifactNotFound):
        await artifact_store.delete(uri)


async def test_large_blob_streams_in_many_chunks(
    artifact_store: ArtifactStore, tmp_path: Path
) -> None:
    data = os.urandom(5 * 1024 * 1024)
    stored = await artifact_store.put_file(write(tmp_path, data), sha(data), len(data))
    chunks = await read_all(artifact_store, stored.uri, sha(data))
    assert len(chunks) > 1
    assert max(len(c) for c in chunks) <= CHUNK_SIZE
    assert b"".join(chunks) == data


# --- filesystem-specific ---------------------------------------------------------------------


async def test_filesystem_layout_and_no_leftovers(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = FilesystemArtifactStore(root)
    data = b"layout"
    h = sha(data)
    stored = await store.put_file(write(tmp_path, data), h, len(data))
    assert stored.uri == f"file://{root.resolve()}/sha256/{h[:2]}/{h}"
    with pytest.raises(ArtifactIntegrityError):
        await store.put_file(write(tmp_path, b"lie"), sha(b"not it"), 3)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == [f"sha256/{h[:2]}/{h}"]


async def test_filesystem_refuses_path_traversal(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = FilesystemArtifactStore(root)
    h = "ab" * 32
    # Real files outside the root, reachable by `..` or by a sibling sharing the root's prefix.
    for outside in (tmp_path / "sha256" / "ab" / h, tmp_path / "store-evil" / "sha256" / "ab" / h):
        outside.parent.mkdir(parents=True)
        outside.write_bytes(b"secret")
    for uri in (
        f"file://{root}/../sha256/ab/{h}",
        f"file://{root}/sha256/ab/../../../sha256/ab/{h}",
        f"file://{tmp_path}/store-evil/sha256/ab/{h}",
        f"file://{root}/sha256/../../store-evil/sha256/ab/{h}",
        f"file://{root}/sha256/ab/x",
    ):
        assert not await store.exists(uri), uri
        with pytest.raises(ArtifactNotFound):
            await read_all(store, uri, sha(b"secret"))
        with pytest.raises(ArtifactNotFound):
            await store.delete(uri)
    assert (tmp_path / "store-evil" / "sha256" / "ab" / h).read_bytes() == b"secret"


# --- MinIO-specific --------------------------------------------------------------------------


async def test_s3_missing_bucket_reads_as_not_found(minio_server: MinioServer) -> None:
    bucket = fresh_bucket()
    store = S3ArtifactStore(
        minio_server.endpoint, bucket, minio_server.access_key, minio_server.secret_key
    )
    uri = f"s3://{bucket}/sha256/ab/{'ab' * 32}"
    try:
        assert not await store.exists(uri)
        with pytest.raises(ArtifactNotFound):
            await read_all(store, uri, "ab" * 32)
    finally:
        await store.close()


async def test_s3_racing_stores_create_bucket_once(
    minio_server: MinioServer, tmp_path: Path
) -> None:
    bucket = fresh_bucket()
    stores = [
        S3ArtifactStore(
            minio_server.endpoint, bucket, minio_server.access_key, minio_server.secret_key
        )
        for _ in range(4)
    ]
    data = b"race"
    try:
        results = await asyncio.gather(
            *(s.put_file(write(tmp_path, data), sha(data), len(data)) for s in stores)
        )
        assert {r.uri for r in results} == {f"s3://{bucket}/sha256/{sha(data)[:2]}/{sha(data)}"}
    finally:
        for s in stores:
            await s.close()


async def test_s3_from_url_round_trip(
    minio_server: MinioServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", minio_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", minio_server.secret_key)
    store = artifact_store_from_url(f"s3://{fresh_bucket()}?endpoint={minio_server.url}")
    assert isinstance(store, S3ArtifactStore)
    data = b"via url"
    try:
        stored = await store.put_file(write(tmp_path, data), sha(data), len(data))
        assert b"".join(await read_all(store, stored.uri, sha(data))) == data
    finally:
        await store.close()


# --- factory -----------------------------------------------------------------------------------


def test_from_url_builds_filesystem_store(tmp_path: Path) -> None:
    store = artifact_store_from_url(tmp_path.as_uri())
    assert isinstance(store, FilesystemArtifactStore)
    assert store.root == tmp_path.resolve()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "/var/lib/greenlang/artifacts",
        "http://example.com/artifacts",
        "gs://bucket",
        "file://relative/dir",
        "file:relative/dir",
        "s3://",
        "s3://bucket/prefix?endpoint=http://127.0.0.1:9000",
        "s3://bucket?endpoint=ftp://127.0.0.1:9000",
    ],
)
def test_from_url_rejects_unsupported(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s" * 8)
    with pytest.raises(ValueError) as info:
        artifact_store_from_url(url)
    message = str(info.value)
    assert "\n" not in message and message


def test_from_url_s3_needs_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(ValueError, match="AWS_ACCESS_KEY_ID"):
        artifact_store_from_url("s3://bucket?endpoint=http://127.0.0.1:9000")
