"""Registry settings from the environment: bad values are refused with the variable's name."""

from __future__ import annotations

import pytest

from registry.config import DEFAULT_PRELOAD_AGENTS, RegistryConfig


def test_defaults() -> None:
    config = RegistryConfig.load(data_dir="/tmp/gl-config-test", env={})
    assert (config.read_cache_ttl, config.preload_agents) == (2.0, DEFAULT_PRELOAD_AGENTS)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GREENLANG_READ_CACHE_TTL", "soon"),
        ("GREENLANG_READ_CACHE_TTL", "-1"),
        ("GREENLANG_READ_CACHE_TTL", "nan"),
        ("GREENLANG_READ_CACHE_TTL", "inf"),
        ("GREENLANG_PRELOAD_AGENTS", "-5"),
        ("GREENLANG_PRELOAD_AGENTS", "1e3"),
        ("GREENLANG_MAX_ARTIFACT_BYTES", "10MB"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        RegistryConfig.load(data_dir="/tmp/gl-config-test", env={name: value})


def test_values_are_read() -> None:
    env = {"GREENLANG_READ_CACHE_TTL": "0", "GREENLANG_PRELOAD_AGENTS": "0"}
    config = RegistryConfig.load(data_dir="/tmp/gl-config-test", env=env)
    assert (config.read_cache_ttl, config.preload_agents) == (0.0, 0)
