"""The sidecar's own answers (401, 403, 413, 429, 502, 503), each an RFC 9457 problem.

The pipeline raises `Refused` (a kernel problem) wherever it stops a call; the handler renders
it with `kernel.problems.problem_response` and the audit record keeps its status and error
type.
"""

from __future__ import annotations

from typing import Any

from kernel.audit_event import Finding
from kernel.problems import ProblemDetails
from sidecar.metrics import (
    ERROR_AUDIT_UNAVAILABLE,
    ERROR_BAD_REQUEST,
    ERROR_DECISION_UNAVAILABLE,
    ERROR_MASKING_FAILED,
    ERROR_RATE_STORE_UNAVAILABLE,
    ERROR_RESPONSE_TOO_LARGE,
)
from sidecar.proxy import UpstreamError


class Refused(ProblemDetails):
    """Stop the call and answer with a problem; ``error`` is the agent_errors_total type."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(status, slug, title, detail, **(extra or {}))
        self.error, self.headers = error, dict(headers)


def upstream_failed(failure: UpstreamError) -> Refused:
    """502/504 (or 413 for a streamed body over the cap), as the proxy describes it."""
    return Refused(failure.status, failure.slug, failure.title, failure.detail, error=failure.kind)


def unauthenticated(detail: str, challenge: str = "Bearer") -> Refused:
    """401 with the RFC 6750 challenge (``error="invalid_token"`` etc. when a token was sent)."""
    return Refused(
        401, "unauthenticated", "Unauthorized", detail, headers=(("WWW-Authenticate", challenge),)
    )


def denied(violations: list[Finding], warnings: list[Finding]) -> Refused:
    ids = ", ".join(sorted({v["policy_id"] for v in violations})) or "unknown"
    return Refused(
        403,
        "policy-denied",
        "Forbidden",
        f"Denied by policy: {ids}.",
        extra={"violations": violations, "warnings": warnings},
    )


def rate_limited(violations: list[Finding], retry_after_s: int, *, tokens: bool = False) -> Refused:
    """429; ``tokens``: the caller's token budget for the window is used up (not its rate)."""
    what = "Token budget used up" if tokens else "Rate limit reached"
    return Refused(
        429,
        "rate-limited",
        "Too Many Requests",
        f"{what}; retry in {retry_after_s} s.",
        extra={"violations": violations},
        headers=(("Retry-After", str(retry_after_s)),),
    )


def decision_unavailable(detail: str) -> Refused:
    return Refused(
        503,
        "decision-unavailable",
        "Service Unavailable",
        f"No policy decision could be had, so the call is refused: {detail}",
        error=ERROR_DECISION_UNAVAILABLE,
        headers=(("Retry-After", "1"),),
    )


def rate_store_unavailable(detail: str) -> Refused:
    """503: the caller's rate cannot be measured, so no decision can be asked (fail closed)."""
    return Refused(
        503,
        "decision-unavailable",
        "Service Unavailable",
        f"The caller's rate cannot be measured, so the call is refused: {detail}",
        error=ERROR_RATE_STORE_UNAVAILABLE,
        headers=(("Retry-After", "1"),),
    )


def obligations_unusable(detail: str) -> Refused:
    return Refused(
        503,
        "obligations-unusable",
        "Service Unavailable",
        f"The policy data asks for something the sidecar cannot enforce ({detail}); the call "
        "is refused rather than run without it.",
        error=ERROR_MASKING_FAILED,
    )


def audit_unavailable() -> Refused:
    return Refused(
        503,
        "audit-unavailable",
        "Service Unavailable",
        "The audit spool is full (the registry has been unreachable too long); calls are "
        "refused until events can be delivered.",
        error=ERROR_AUDIT_UNAVAILABLE,
        headers=(("Retry-After", "5"),),
    )


def bad_request(detail: str) -> Refused:
    return Refused(400, "bad-request", "Bad Request", detail, error=ERROR_BAD_REQUEST)


def request_too_large(limit: int) -> Refused:
    """413 before forwarding (by Content-Length): the proxy's answer to a streamed body."""
    return upstream_failed(UpstreamError.body_too_large(limit))


def response_too_large(limit: int) -> Refused:
    return Refused(
        502,
        "response-too-large",
        "Bad Gateway",
        f"The agent's response exceeds this agent's limit of {limit} bytes.",
        error=ERROR_RESPONSE_TOO_LARGE,
    )


def response_uninspectable(encoding: str) -> Refused:
    return Refused(
        502,
        "response-uninspectable",
        "Bad Gateway",
        f"The agent's response is encoded with {encoding!r}, which the sidecar cannot "
        "decode to apply the masking policy.",
        error=ERROR_MASKING_FAILED,
    )


def masking_failed(detail: str) -> Refused:
    return Refused(
        502,
        "masking-failed",
        "Bad Gateway",
        f"The masking policy cannot be applied: {detail}",
        error=ERROR_MASKING_FAILED,
    )
