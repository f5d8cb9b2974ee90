"""Webhook signatures: HMAC-SHA256 with the subscription's secret over `<timestamp>.<body>`.

A delivery carries
    X-GreenLang-Timestamp: <unix seconds>
    X-GreenLang-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>
A receiver recomputes the HMAC over the raw request body (before any JSON parsing), compares it
in constant time, and refuses timestamps far from its clock, so a captured delivery cannot be
replayed later. `verify` does exactly that and depends on the standard library only; receivers
may copy it (docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-GreenLang-Timestamp"
SIGNATURE_HEADER = "X-GreenLang-Signature"
EVENT_HEADER = "X-GreenLang-Event"
DELIVERY_HEADER = "X-GreenLang-Delivery"
PREFIX = "sha256="
TOLERANCE = 300  # seconds a receiver accepts between the timestamp and its own clock


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-GreenLang-Signature value for this body sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return PREFIX + mac.hexdigest()


def signed_headers(
    secret: str, delivery_id: str, event: str, body: bytes, timestamp: int
) -> dict[str, str]:
    """Every header a delivery carries."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "GreenLang-Webhooks/1",
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature_header: str | None,
    now: float | None = None,
    tolerance: int = TOLERANCE,
) -> bool:
    """For receivers: True when the signature matches this raw body and timestamp and the
    timestamp is within `tolerance` seconds of `now` (default: this machine's clock)."""
    if not timestamp or not signature_header:
        return False
    if not (timestamp.isascii() and timestamp.isdigit()):
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), signature_header)
