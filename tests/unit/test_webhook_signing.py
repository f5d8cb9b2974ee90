"""Webhook signatures as a receiver checks them, and the retry schedule."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import pytest

from registry.webhooks.retry import RetryPolicy
from registry.webhooks.signing import signature, signed_headers, verify

SECRET = "whsec_abc"
BODY = b'{"event":"version.deprecated"}'
TS = 1_780_000_000


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1780000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, TS, BODY) == "sha256=" + expected
    headers = signed_headers(SECRET, "d-1", "version.deprecated", BODY, TS)
    assert headers["X-GreenLang-Signature"] == "sha256=" + expected
    assert headers["X-GreenLang-Timestamp"] == "1780000000"
    assert headers["X-GreenLang-Delivery"] == "d-1"
    assert headers["X-GreenLang-Event"] == "version.deprecated"


def test_verify_accepts_a_fresh_matching_signature() -> None:
    sig = signature(SECRET, TS, BODY)
    assert verify(SECRET, BODY, str(TS), sig, now=TS + 299)
    assert verify(SECRET, BODY, str(TS), sig, now=TS - 299)


@pytest.mark.parametrize(
    ("secret", "body", "ts", "sig", "now"),
    [
        ("other", BODY, str(TS), None, TS),
        (SECRET, BODY + b" ", str(TS), None, TS),
        (SECRET, BODY, str(TS + 1), None, TS),
        (SECRET, BODY, str(TS), None, TS + 301),  # too old: a replay
        (SECRET, BODY, str(TS), None, TS - 301),
        (SECRET, BODY, None, None, TS),
        (SECRET, BODY, "", None, TS),
        (SECRET, BODY, "-5", None, TS),
        (SECRET, BODY, "1.5", None, TS),
        (SECRET, BODY, "²", None, TS),
        (SECRET, BODY, str(TS), "", TS),
        (SECRET, BODY, str(TS), "sha256=00", TS),
        (SECRET, BODY, str(TS), "md5=whatever", TS),
    ],
)
def test_verify_refuses(
    secret: str, body: bytes, ts: str | None, sig: str | None, now: float
) -> None:
    good = signature(SECRET, TS, BODY)
    assert not verify(secret, body, ts, good if sig is None else sig, now=now)


def test_backoff_doubles_with_jitter_in_the_upper_half_and_is_capped() -> None:
    p = RetryPolicy(base_delay=10, max_delay=60, max_attempts=5)
    assert [p.delay(a, 0.0) for a in (1, 2, 3, 4, 5)] == [5, 10, 20, 30, 30]
    assert [p.delay(a, 1.0) for a in (1, 2, 3, 4)] == [10, 20, 40, 60]
    assert p.delay(1000, 0.5) == 45
    assert not p.gives_up_after(4)
    assert p.gives_up_after(5)
    assert p.lease > p.timeout


def test_the_receiver_snippet_in_the_docs_verifies() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    snippet = next(b for b in text.split("```python")[1:] if "def verify" in b).split("```")[0]
    scope: dict[str, Any] = {}
    exec(snippet, scope)  # our own documentation
    now = int(time.time())
    good = signature(SECRET, now, BODY)
    assert scope["verify"](SECRET, BODY, str(now), good)
    assert not scope["verify"](SECRET, BODY + b"x", str(now), good)
    assert not scope["verify"](SECRET, BODY, str(now - 301), signature(SECRET, now - 301, BODY))
