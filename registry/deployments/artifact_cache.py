"""Local copies of version artifacts for the deployers, which start agents from a file.

One file per content under ``<root>/<sha256>/``, fetched from the artifact store once and
checked against the version's sha256 while it is written; a copy found on disk (left by an
earlier process) is hashed once before it is trusted again, so a damaged file is fetched anew.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from registry.artifacts.port import ArtifactIntegrityError, ArtifactStore


class ArtifactCache:
    def __init__(self, store: ArtifactStore, root: Path) -> None:
        self.store = store
        self.root = root
        self._trusted: set[Path] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, uri: str, sha256: str, name: str) -> Path:
        """The local file holding the blob ``uri`` (named ``name``: the agent host imports a
        ``.py`` file); raises ArtifactNotFound / ArtifactIntegrityError from the store."""
        path = self.root / sha256 / name
        if path in self._trusted:
            return path
        async with self._locks.setdefault(sha256, asyncio.Lock()):
            if path in self._trusted:
                return path
            if not (path.is_file() and await asyncio.to_thread(_sha256, path) == sha256):
                await self._fetch(uri, sha256, path)
            self._trusted.add(path)
        return path

    async def _fetch(self, uri: str, sha256: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        digest = hashlib.sha256()
        try:
            with tmp.open("wb") as out:
                async for chunk in self.store.open(uri, sha256):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha256:  # the store checks too; a cache never trusts it
                raise ArtifactIntegrityError(f"{uri}: bytes hash to {digest.hexdigest()}")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
