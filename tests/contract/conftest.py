"""Real servers for the contract suites (started once per session, only when a test needs them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import MinioServer


@pytest.fixture(scope="session")
def minio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    """A live MinIO: `.endpoint` (host:port), `.url`, `.access_key`, `.secret_key`."""
    with MinioServer(tmp_path_factory.mktemp("minio")) as server:
        yield server
