"""S3/MinIO artifact store: the same content addressing as the filesystem store, in a bucket.

The `minio` SDK is synchronous, so every call runs in a worker thread; a download is read chunk by
chunk (one thread hop per chunk) so the event loop is never held for a whole object."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import certifi
import urllib3
from minio import Minio
from minio.error import S3Error

from registry.artifacts import CHUNK_SIZE, blob_key, check_integrity, hash_file, is_blob_key
from registry.artifacts.port import ArtifactIntegrityError, ArtifactNotFound, StoredArtifact

_MISSING = frozenset({"NoSuchKey", "NoSuchBucket"})


class S3ArtifactStore:
    """ArtifactStore on one S3 bucket (created on first write if missing)."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        secure: bool = False,
        region: str | None = None,
    ) -> None:
        self.bucket = bucket
        # Our own pool so close() can release it; the SDK default waits 5 min to connect.
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=10, read=300),
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(
                total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        self._client = Minio(
            endpoint, access_key, secret_key, secure=secure, region=region, http_client=self._http
        )
        self._bucket_ready = False
        self._bucket_lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str) -> S3ArtifactStore:
        """`s3://bucket?endpoint=http://host:9000[&region=r]`; keys from AWS_* env variables."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError(f"S3 artifact store URL must be s3://bucket?endpoint=..., got {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        endpoint = urlsplit(query.get("endpoint", "https://s3.amazonaws.com"))
        if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
            raise ValueError(f"S3 endpoint must be http(s)://host[:port], got {url!r}")
        access_key = os.environ.get("AWS_ACCESS_KEY_ID")
        secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not access_key or not secret_key:
            raise ValueError("S3 artifact store needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        return cls(
            endpoint.netloc,
            parts.netloc,
            access_key,
            secret_key,
            secure=endpoint.scheme == "https",
            region=query.get("region"),
        )

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _key_from_uri(self, uri: str) -> str:
        parts = urlsplit(uri)
        key = parts.path.lstrip("/")
        if parts.scheme != "s3" or parts.netloc != self.bucket or not is_blob_key(key):
            raise ArtifactNotFound(f"not a blob of this store: {uri}")
        return key

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _ensure_bucket(self) -> None:
        async with self._bucket_lock:
            if self._bucket_ready:
                return
            if not await self._call(self._client.bucket_exists, self.bucket):
                try:
                    await self._call(self._client.make_bucket, self.bucket)
                except S3Error as e:
                    # Another process created it between our check and our create.
                    if e.code != "BucketAlreadyOwnedByYou":
                        raise
            self._bucket_ready = True

    async def _stat_size(self, key: str) -> int | None:
        try:
            stat = await self._call(self._client.stat_object, self.bucket, key)
        except S3Error as e:
            if e.code in _MISSING:
                return None
            raise
        return int(stat.size)

    async def put_file(self, path: Path, sha256: str, size: int) -> StoredArtifact:
        """Verify the local file first (fput_object cannot hash as it uploads), then upload.

        The file must not change between the check and the upload; callers pass files they own."""
        key = blob_key(sha256)
        actual = await asyncio.to_thread(hash_file, Path(path))
        check_integrity((sha256, size), actual, f"put {path}")
        await self._ensure_bucket()
        if await self._stat_size(key) != size:
            await self._call(self._client.fput_object, self.bucket, key, str(path))
        return StoredArtifact(uri=self._uri(key), sha256=sha256, size=size)

    async def open(self, uri: str, sha256: str) -> AsyncIterator[bytes]:
        key = self._key_from_uri(uri)
        try:
            response = await self._call(self._client.get_object, self.bucket, key)
        except S3Error as e:
            if e.code in _MISSING:
                raise ArtifactNotFound(uri) from None
            raise
        digest = hashlib.sha256()
        try:
            while chunk := await self._call(response.read, CHUNK_SIZE):
                digest.update(chunk)
                yield chunk
        finally:
            response.close()
            response.release_conn()
        if digest.hexdigest() != sha256:
            raise ArtifactIntegrityError(f"{uri}: stored bytes hash to {digest.hexdigest()}")

    async def delete(self, uri: str) -> None:
        """Idempotent, like S3 itself: deleting a missing object is fine."""
        key = self._key_from_uri(uri)
        try:
            await self._call(self._client.remove_object, self.bucket, key)
        except S3Error as e:
            if e.code not in _MISSING:
                raise

    async def exists(self, uri: str) -> bool:
        try:
            key = self._key_from_uri(uri)
        except ArtifactNotFound:
            return False
        return await self._stat_size(key) is not None

    async def close(self) -> None:
        self._http.clear()
