"""Publish a built bundle: to S3/MinIO (``minio`` SDK) or to the registry's bundle endpoint."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
from minio import Minio

from bundles.bundle import BundleError, read_revision

BUNDLE_CONTENT_TYPE = "application/gzip"


class PublishError(Exception):
    """The bundle could not be published."""


@dataclass(frozen=True)
class Published:
    """Where a bundle went and which revision it carries."""

    location: str
    revision: str
    sha256: str
    etag: str | None = None


def parse_s3_url(target: str) -> tuple[str, str]:
    """``s3://bucket/some/key.tar.gz`` → ``("bucket", "some/key.tar.gz")``."""
    parts = urlsplit(target)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if parts.scheme != "s3" or not bucket or not key or key.endswith("/"):
        raise PublishError(f"expected s3://bucket/key, got {target!r}")
    return bucket, key


def _split_endpoint(endpoint: str, secure: bool | None) -> tuple[str, bool]:
    if "://" in endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PublishError(f"bad S3 endpoint {endpoint!r}")
        return parts.netloc, (parts.scheme == "https") if secure is None else secure
    return endpoint, bool(secure)


def _bundle_facts(bundle: Path) -> tuple[str, str]:
    try:
        revision = read_revision(bundle)
    except BundleError as e:
        raise PublishError(f"not publishing {bundle}: {e}") from e
    return revision, hashlib.sha256(bundle.read_bytes()).hexdigest()


def publish_s3(
    bundle: Path,
    target: str,
    *,
    endpoint: str,
    access_key: str,
    secret_key: str,
    secure: bool | None = None,
    region: str | None = None,
) -> Published:
    """Upload ``bundle`` to ``s3://bucket/key`` on ``endpoint``; create the bucket if missing.

    ``endpoint`` is ``host:port`` (plain HTTP unless ``secure``) or an ``http(s)://`` URL.
    The object gets content type ``application/gzip`` and ``x-amz-meta-revision``."""
    bundle = Path(bundle)
    bucket, key = parse_s3_url(target)
    revision, digest = _bundle_facts(bundle)
    host, tls = _split_endpoint(endpoint, secure)
    client = Minio(host, access_key=access_key, secret_key=secret_key, secure=tls, region=region)
    try:
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
        result = client.fput_object(
            bucket,
            key,
            str(bundle),
            content_type=BUNDLE_CONTENT_TYPE,
            metadata={"revision": revision, "sha256": digest},
        )
    except Exception as e:  # minio raises S3Error, urllib3 errors, ValueError...
        raise PublishError(f"upload of {bundle} to {target} failed: {e}") from e
    return Published(location=target, revision=revision, sha256=digest, etag=result.etag)


def publish_registry(
    bundle: Path,
    registry_url: str,
    token: str | None,
    name: str,
    *,
    timeout: float = 30.0,
) -> Published:
    """``PUT {registry}/api/v1/bundles/{name}`` with the archive as the body."""
    bundle = Path(bundle)
    revision, digest = _bundle_facts(bundle)
    url = f"{registry_url.rstrip('/')}/api/v1/bundles/{quote(name, safe='')}"
    headers = {"Content-Type": BUNDLE_CONTENT_TYPE}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        resp = httpx.put(url, content=bundle.read_bytes(), headers=headers, timeout=timeout)
    except httpx.HTTPError as e:
        raise PublishError(f"PUT {url} failed: {e}") from e
    if resp.status_code >= 300:
        detail = resp.text[:500]
        raise PublishError(f"PUT {url} returned {resp.status_code}: {detail}")
    return Published(location=url, revision=revision, sha256=digest, etag=resp.headers.get("ETag"))
