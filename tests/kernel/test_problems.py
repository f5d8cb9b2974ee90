"""One RFC 9457 shape for every app: the standard members, instance and request id always."""

from __future__ import annotations

import json

from kernel.problems import PROBLEM_BASE, Problem, ProblemDetails, problem_response


class Gone(Problem):
    status, slug, title = 410, "gone", "Gone"


def test_body_always_has_instance_and_request_id_and_keeps_extras() -> None:
    body = Gone("it left", errors=[{"field": "x", "message": "y"}]).body("/a/b", "req-1")
    assert body == {
        "type": PROBLEM_BASE + "gone",
        "title": "Gone",
        "status": 410,
        "detail": "it left",
        "instance": "/a/b",
        "request_id": "req-1",
        "errors": [{"field": "x", "message": "y"}],
    }


def test_problem_details_chooses_its_shape_per_instance() -> None:
    problem = ProblemDetails(429, "rate-limited", "Too Many Requests", "slow down", n=1)
    body = problem.body("/x", "r")
    assert (body["status"], body["type"], body["title"], body["n"]) == (
        429,
        PROBLEM_BASE + "rate-limited",
        "Too Many Requests",
        1,
    )
    assert Problem.status == 400  # the per-instance shape did not leak into the class


def test_response_is_problem_json_with_the_request_id_header() -> None:
    body = Gone("x").body("/p", "req-9")
    response = problem_response(body, [("Retry-After", "5")])
    assert response.status == 410
    assert response.content_type == "application/problem+json"
    assert response.headers["X-Request-Id"] == "req-9"
    assert response.headers["Retry-After"] == "5"
    assert response.text is not None and json.loads(response.text) == body
