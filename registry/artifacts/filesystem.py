"""Filesystem artifact store: content-addressed blobs under one root directory.

A blob with sha256 `h` lives at `root/sha256/h[:2]/h`, so identical bytes always land at the
same URI and a second put is a no-op. Writes go to a temp file in the target directory and are
renamed into place, so readers never see a half-written blob."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from registry.artifacts import CHUNK_SIZE, blob_key, check_integrity, hash_file, is_blob_key
from registry.artifacts.port import ArtifactIntegrityError, ArtifactNotFound, StoredArtifact


class FilesystemArtifactStore:
    """ArtifactStore on a local directory; all file I/O runs in worker threads."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _blob_path(self, sha256: str) -> Path:
        return self.root / blob_key(sha256)

    def _path_from_uri(self, uri: str) -> Path:
        """Map a URI back to a blob path; anything outside `root/sha256/` is not ours."""
        parts = urlsplit(uri)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise ArtifactNotFound(f"not a file artifact URI: {uri}")
        path = Path(unquote(parts.path)).resolve()
        try:
            key = path.relative_to(self.root).as_posix()
        except ValueError:
            raise ArtifactNotFound(f"artifact URI outside the store: {uri}") from None
        if not is_blob_key(key):
            raise ArtifactNotFound(f"not a blob of this store: {uri}")
        return path

    async def put_file(self, path: Path, sha256: str, size: int) -> StoredArtifact:
        dest = self._blob_path(sha256)
        await asyncio.to_thread(self._put_sync, Path(path), dest, (sha256, size))
        return StoredArtifact(uri=dest.as_uri(), sha256=sha256, size=size)

    @staticmethod
    def _put_sync(src: Path, dest: Path, expected: tuple[str, int]) -> None:
        if dest.exists():
            # Already stored; still refuse a caller whose file is not what it claims.
            check_integrity(expected, hash_file(src), f"put {src}")
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        try:
            digest = hashlib.sha256()
            written = 0
            with os.fdopen(fd, "wb") as out, src.open("rb") as f:
                while chunk := f.read(CHUNK_SIZE):
                    digest.update(chunk)
                    written += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            check_integrity(expected, (digest.hexdigest(), written), f"put {src}")
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def open(self, uri: str, sha256: str) -> AsyncIterator[bytes]:
        path = self._path_from_uri(uri)
        try:
            f: BinaryIO = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise ArtifactNotFound(uri) from None
        try:
            digest = hashlib.sha256()
            while chunk := await asyncio.to_thread(f.read, CHUNK_SIZE):
                digest.update(chunk)
                yield chunk
        finally:
            await asyncio.to_thread(f.close)
        if digest.hexdigest() != sha256:
            raise ArtifactIntegrityError(f"{uri}: stored bytes hash to {digest.hexdigest()}")

    async def delete(self, uri: str) -> None:
        """Idempotent: deleting a missing blob is fine, a foreign URI is refused."""
        path = self._path_from_uri(uri)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def exists(self, uri: str) -> bool:
        try:
            path = self._path_from_uri(uri)
        except ArtifactNotFound:
            return False
        return await asyncio.to_thread(path.is_file)

    async def close(self) -> None:
        return None
