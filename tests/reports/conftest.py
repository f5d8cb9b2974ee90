"""The registry API fixture of tests/api, for the report tests."""

from tests.api.conftest import api

__all__ = ["api"]
