"""Contract suites use the session-wide servers of tests/conftest.py."""

from collections.abc import Iterator

import pytest

from tests.support.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server for the rate and token counter suites (they stop and start it)."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server
