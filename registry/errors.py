"""Domain errors that carry their RFC 9457 problem shape, so every layer raises the same thing and
the API renders it without guessing."""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://greenlang.dev/problems/"


class Problem(Exception):
    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extras: Any):
        super().__init__(detail)
        self.detail = detail
        self.extras = extras

    def body(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            doc["instance"] = instance
        doc.update(self.extras)
        return doc


def problem(status: int, slug: str, title: str) -> type[Problem]:
    return type(
        slug.title().replace("-", ""), (Problem,), {"status": status, "slug": slug, "title": title}
    )


BadRequest = problem(400, "bad-request", "Bad request")
Unauthorized = problem(401, "unauthorized", "Authentication required")
Forbidden = problem(403, "forbidden", "Forbidden")
NotFound = problem(404, "not-found", "Not found")
Conflict = problem(409, "conflict", "Conflict")
InvalidTransition = problem(409, "invalid-transition", "Status change not allowed")
CertificateRequired = problem(409, "certificate-required", "Certificate required")
PreconditionFailed = problem(412, "precondition-failed", "Precondition failed")
PayloadTooLarge = problem(413, "payload-too-large", "Payload too large")
UnsupportedMediaType = problem(415, "unsupported-media-type", "Unsupported media type")
ValidationFailed = problem(422, "validation-failed", "Validation failed")
ServiceUnavailable = problem(503, "service-unavailable", "Service unavailable")
