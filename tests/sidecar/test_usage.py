"""Token usage from agent response headers and JSON bodies."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict

from sidecar.usage import Usage, usage_from_headers, usage_from_json


def test_headers_count_and_model() -> None:
    headers = CIMultiDict({"x-tokens-used": " 1234 ", "X-MODEL": " gpt-4o "})
    assert usage_from_headers(headers) == Usage(1234, None, None, "gpt-4o")
    assert usage_from_headers({"X-Tokens-Used": "0"}) == Usage(0, None, None, None)


def test_headers_absent() -> None:
    assert usage_from_headers({}) is None
    assert usage_from_headers({"X-Model": "m"}) is None


@pytest.mark.parametrize(
    "value",
    ["", " ", "-1", "+5", "1.0", "1e3", "12abc", "0x10", "١٢", "²", "1 2", "9" * 19, "true"],
)
def test_headers_garbage_count(value: str) -> None:
    assert usage_from_headers({"X-Tokens-Used": value}) is None


def test_headers_model_garbage_is_dropped_not_fatal() -> None:
    for model in ("", "   ", "m" * 257):
        assert usage_from_headers({"X-Tokens-Used": "5", "X-Model": model}) == Usage(
            5, None, None, None
        )
    assert usage_from_headers({"X-Tokens-Used": "5", "X-Model": "m" * 256}).model == "m" * 256  # type: ignore[union-attr]


def test_json_total_prompt_completion_model() -> None:
    doc = {
        "model": "gpt-4o-mini",
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
    assert usage_from_json(doc) == Usage(15, 10, 5, "gpt-4o-mini")


def test_json_total_wins_over_the_sum() -> None:
    doc = {"usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 20}}
    assert usage_from_json(doc) == Usage(20, 10, 5, None)


def test_json_sum_when_total_absent_or_invalid() -> None:
    assert usage_from_json({"usage": {"prompt_tokens": 7, "completion_tokens": 3}}) == Usage(
        10, 7, 3, None
    )
    doc = {"usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": "10"}}
    assert usage_from_json(doc) == Usage(10, 7, 3, None)


def test_json_only_total() -> None:
    assert usage_from_json({"usage": {"total_tokens": 0}}) == Usage(0, None, None, None)
    doc = {"usage": {"total_tokens": 9, "prompt_tokens": -1, "completion_tokens": True}}
    assert usage_from_json(doc) == Usage(9, None, None, None)


def test_json_anthropic_style_names() -> None:
    doc = {"model": "claude", "usage": {"input_tokens": 12, "output_tokens": 30}}
    assert usage_from_json(doc) == Usage(42, 12, 30, "claude")


@pytest.mark.parametrize(
    "doc",
    [
        None,
        5,
        "usage",
        [],
        {},
        {"usage": None},
        {"usage": []},
        {"usage": "15"},
        {"usage": {}},
        {"usage": {"total_tokens": "15"}},
        {"usage": {"total_tokens": 15.0}},
        {"usage": {"total_tokens": True}},
        {"usage": {"total_tokens": -3}},
        {"usage": {"total_tokens": 2**63}},
        {"usage": {"prompt_tokens": 5}},
        {"usage": {"prompt_tokens": 5, "completion_tokens": None}},
        {"usage": {"prompt_tokens": 5, "completion_tokens": False}},
        {"usage": {"prompt_tokens": 2**62, "completion_tokens": 2**62}},
        {"model": "m", "tokens": 5},
    ],
)
def test_json_garbage_gives_none(doc: Any) -> None:
    assert usage_from_json(doc) is None


def test_json_model_must_be_a_string() -> None:
    for model in (5, None, ["m"], "", " "):
        assert usage_from_json({"model": model, "usage": {"total_tokens": 1}}) == Usage(
            1, None, None, None
        )


def test_as_input_leaves_out_unknowns() -> None:
    assert Usage(15, 10, 5, "m").as_input() == {
        "total_tokens": 15,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "model": "m",
    }
    assert Usage(15, None, None, None).as_input() == {"total_tokens": 15}
    assert Usage(0, 0, None, None).as_input() == {"total_tokens": 0, "prompt_tokens": 0}


def test_as_event_keeps_every_key() -> None:
    assert Usage(15, 10, 5, "m").as_event() == {
        "total": 15,
        "prompt": 10,
        "completion": 5,
        "model": "m",
    }
    assert Usage(15, None, None, None).as_event() == {
        "total": 15,
        "prompt": None,
        "completion": None,
        "model": None,
    }


def test_usage_is_frozen() -> None:
    u = Usage(1, None, None, None)
    with pytest.raises(AttributeError):
        u.total = 2  # type: ignore[misc]
