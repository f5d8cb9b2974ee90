"""Bearer-token and request-id parsing shared by the registry and the sidecar."""

from __future__ import annotations

import uuid

import pytest
from aiohttp.test_utils import make_mocked_request

from kernel.headers import bearer_token, request_id_of


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer abc.def", "abc.def"),
        ("bearer   abc ", "abc"),
        ("BEARER x", "x"),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer   ", None),
        ("Basic dXNlcjpwYXNz", None),
    ],
)
def test_bearer_token(value: str | None, token: str | None) -> None:
    assert bearer_token(value) == token


def test_plain_request_ids_pass_and_anything_else_is_replaced() -> None:
    def rid(value: str) -> str:
        return request_id_of(make_mocked_request("GET", "/", headers={"X-Request-Id": value}))

    assert rid("abc-123.x:y_z") == "abc-123.x:y_z"
    for odd in ("", "has space", "a" * 129, "new\nline", "naïve"):
        uuid.UUID(rid(odd))  # a fresh one instead
