"""A real Meilisearch for tests and benches: ``../shared/bin/meilisearch`` on a free loopback port.

The binary is looked up as ``$GREENLANG_MEILISEARCH_BIN``, then ``shared/bin/meilisearch`` beside
the repo or beside any parent of it (CI clones into ``<dir>/main`` with ``<dir>/shared``; a
worktree sits deeper), then ``meilisearch`` on PATH. Each server gets a temp db and a random
master key; ``meili_binary()`` is None only when no binary exists, the one allowed skip."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import ServerProcess

REPO = Path(__file__).resolve().parents[2]


def meili_binary() -> str | None:
    """Path of an executable meilisearch, or None when this machine has none."""
    explicit = os.environ.get("GREENLANG_MEILISEARCH_BIN")
    shared = [p / "shared" / "bin" / "meilisearch" for p in REPO.parents]
    for candidate in [explicit, *map(str, shared), shutil.which("meilisearch")]:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class MeiliServer(ServerProcess):
    """One Meilisearch with its own db dir (removed by close()) and master key (``.key``)."""

    name = "meilisearch"
    health_path = "/health"

    def __init__(self, binary: str, workdir: Path | None = None, timeout: float = 60.0) -> None:
        self._own_dir = workdir is None
        super().__init__(workdir or Path(tempfile.mkdtemp(prefix="gl-meili-")), timeout)
        self.binary = binary
        self.key = secrets.token_hex(16)  # Meilisearch wants >= 16 bytes

    def command(self) -> list[str]:
        return [
            self.binary,
            "--db-path", str(self.workdir / f"db-{self.port}"),
            "--http-addr", f"127.0.0.1:{self.port}",
            "--master-key", self.key,
            "--no-analytics",
            "--max-indexing-threads", "2",  # a 2-core machine shared with PostgreSQL
            "--log-level", "WARN",
        ]  # fmt: skip

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def documents(self, index: str) -> int:
        """How many documents `index` holds (0 before it exists)."""
        req = urllib.request.Request(f"{self.url}/indexes/{index}/stats")
        req.add_header("Authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return int(json.loads(resp.read())["numberOfDocuments"])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return 0
            raise

    def close(self) -> None:
        super().close()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass(frozen=True)
class MeiliTarget:
    """Where a test's Meilisearch answers and the key it wants."""

    url: str
    key: str | None


def session_meili() -> Iterator[MeiliTarget]:
    """Body of the session fixture: $GREENLANG_TEST_MEILI_URL (+ _KEY) if set, else a server
    started from the binary for this session (one per xdist worker); skip only without one."""
    if url := os.environ.get("GREENLANG_TEST_MEILI_URL"):
        yield MeiliTarget(url, os.environ.get("GREENLANG_TEST_MEILI_KEY"))
        return
    binary = meili_binary()
    if binary is None:
        pytest.skip("no meilisearch binary (../shared/bin/meilisearch, $GREENLANG_MEILISEARCH_BIN)")
    with MeiliServer(binary) as server:
        yield MeiliTarget(server.url, server.key)
