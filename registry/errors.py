"""The registry's domain errors: kernel `Problem`s with the registry's statuses and types, so every
layer raises the same thing and the API renders it without guessing."""

from __future__ import annotations

from kernel.problems import Problem

__all__ = [
    "BadRequest",
    "CertificateRequired",
    "Conflict",
    "Forbidden",
    "InvalidTransition",
    "NotFound",
    "PayloadTooLarge",
    "PolicyDenied",
    "PreconditionFailed",
    "Problem",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationFailed",
]


class BadRequest(Problem):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Forbidden"


class PolicyDenied(Problem):
    """Extras: `violations` [{policy_id, message}] and, for a deployment, `deployment_id`."""

    status, slug, title = 403, "policy-denied", "Denied by policy"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "Conflict"


class InvalidTransition(Problem):
    status, slug, title = 409, "invalid-transition", "Status change not allowed"


class CertificateRequired(Problem):
    status, slug, title = 409, "certificate-required", "Certificate required"


class PreconditionFailed(Problem):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(Problem):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(Problem):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(Problem):
    status, slug, title = 422, "validation-failed", "Validation failed"


class TooManyRequests(Problem):
    status, slug, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class ServiceUnavailable(Problem):
    status, slug, title = 503, "service-unavailable", "Service unavailable"

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        if retry_after is not None:
            self.headers = {"Retry-After": str(retry_after)}
