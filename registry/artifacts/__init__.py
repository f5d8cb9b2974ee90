"""Artifact store adapters (filesystem, S3/MinIO) and the helpers they share.

Every adapter lays blobs out the same way (`sha256/<h[:2]>/<h>`), so identical bytes always get
the same URI and blobs can be copied between stores unchanged."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from registry.artifacts.port import ArtifactIntegrityError, ArtifactStore

CHUNK_SIZE = 64 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_sha256(sha256: str) -> str:
    """Reject anything but a lowercase hex digest: it becomes a path or object key."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a lowercase hex sha256 digest: {sha256!r}")
    return sha256


def blob_key(sha256: str) -> str:
    """Relative location of a blob, shared by every adapter."""
    return f"sha256/{sha256[:2]}/{check_sha256(sha256)}"


def is_blob_key(key: str) -> bool:
    parts = key.split("/")
    return (
        len(parts) == 3
        and parts[0] == "sha256"
        and bool(_SHA256.fullmatch(parts[2]))
        and parts[1] == parts[2][:2]
    )


def hash_file(path: Path) -> tuple[str, int]:
    """sha256 and size of a local file, read in chunks (call from a thread)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_integrity(expected: tuple[str, int], actual: tuple[str, int], what: str) -> None:
    if actual != expected:
        raise ArtifactIntegrityError(
            f"{what}: expected sha256 {expected[0]} ({expected[1]} bytes), "
            f"got {actual[0]} ({actual[1]} bytes)"
        )


def artifact_store_from_url(url: str) -> ArtifactStore:
    """Build a store from `file:///abs/dir` or `s3://bucket?endpoint=http://host:9000`.

    Adapters are imported here so the `minio` SDK loads only when an S3 store is configured."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ValueError(f"artifact store URL must be file:///absolute/dir, got {url!r}")
        from registry.artifacts.filesystem import FilesystemArtifactStore

        return FilesystemArtifactStore(Path(path))
    if parts.scheme == "s3":
        from registry.artifacts.s3 import S3ArtifactStore

        return S3ArtifactStore.from_url(url)
    raise ValueError(
        f"unsupported artifact store URL {url!r}: use file:///abs/dir or s3://bucket?endpoint=..."
    )
