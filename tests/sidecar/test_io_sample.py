"""Input/output samples: which calls are picked, how bodies are masked and capped."""

from __future__ import annotations

import json

import pytest

from sidecar.io_sample import MARGIN, IoSample, IoSampler, render
from sidecar.masking import Masker

EMAIL = ("email", r"[\w.+-]+@[\w-]+\.[\w.]+")
CARD = ("card", r"\b\d{16}\b")


def test_rate_zero_never_samples_and_one_always() -> None:
    assert all(IoSampler(0.0).start() is None for _ in range(100))
    assert all(IoSampler(1.0).start() is not None for _ in range(100))
    draws = iter([0.1, 0.5, 0.29])
    sampler = IoSampler(0.3, draw=lambda: next(draws))
    assert [sampler.start() is not None for _ in range(3)] == [True, False, True]


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_rate_outside_zero_to_one_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        IoSampler(rate)


def test_json_bodies_are_masked_value_by_value() -> None:
    body = json.dumps({"email": "ops@acme.example", "n": 1}).encode()
    text, cut = render(body, len(body), Masker([EMAIL]), 4096)
    assert json.loads(text) == {"email": "[REDACTED:email]", "n": 1} and not cut


def test_a_secret_cut_by_the_cap_is_still_masked() -> None:
    card = "4111111111111111"
    body = ("x " * 45 + card + " " + "y" * 100).encode()
    sample = IoSample(max_bytes=100)
    for i in range(0, len(body), 7):  # arrives in chunks
        sample.tap_request(body[i : i + 7])
    sample.mask = (CARD,)
    record = sample.record()
    assert record["request_truncated"] and record["request_bytes"] == len(body)
    assert "41111111" not in record["request_body"] and len(record["request_body"]) == 100
    assert record["request_body"].startswith("x " * 45 + "[REDACTED")


def test_only_the_cap_plus_margin_is_kept_of_a_large_body() -> None:
    sample = IoSample(max_bytes=10)
    sample.tap_request(b"a" * (1 << 20))
    assert len(sample.request) == 10 + MARGIN and sample.request_bytes == 1 << 20


def test_unknown_obligations_log_no_body() -> None:
    sample = IoSample(max_bytes=100)
    sample.tap_request(b'{"email":"ops@acme.example"}')
    record = sample.record()  # refused before the policy said what to mask
    assert record["request_body"] is None and record["response_body"] is None


def test_no_mask_obligation_logs_the_body_as_it_is() -> None:
    sample = IoSample(max_bytes=100, mask=())
    sample.tap_request(b'{"email":"ops@acme.example"}')
    sample.set_response(b"plain text", 10)
    record = sample.record()
    assert json.loads(record["request_body"]) == {"email": "ops@acme.example"}
    assert record["response_body"] == "plain text" and not record["masked"]
