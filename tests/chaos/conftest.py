"""Fixtures the fault tests share with the end-to-end ones."""

from tests.e2e.test_sidecar_e2e import stack  # noqa: F401 - a registry, an agent, tokens
