"""The OpenAPI document against the real router and real responses: every route is documented and
nothing else, the document is valid OpenAPI 3.1 with every $ref resolving, and what each route
answers (status, media type, body) is what the document says."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from openapi_spec_validator import validate

from registry.api.openapi import openapi_document, operations_of
from tests.api.conftest import Api, make_spec
from tests.api.test_opa_control import REPORT, decision
from tests.api.test_policies_bundles import CERT_POLICY, YAML
from tests.api.test_sidecar_audit import event


def routed(router: web.UrlDispatcher) -> set[tuple[str, str]]:
    """(METHOD, path template) of every route, less the HEAD routes aiohttp adds to each GET."""
    routes = {(r.method, r.resource.canonical) for r in router.routes() if r.resource}
    return {(m, p) for m, p in routes if not (m == "HEAD" and ("GET", p) in routes)}


def drift(router: web.UrlDispatcher, document: dict[str, Any]) -> str:
    """Empty when router and document name the same operations, else what differs."""
    documented, served = set(operations_of(document)), routed(router)
    problems = []
    if missing := sorted(served - documented):
        problems.append(
            "routes missing from the OpenAPI document (add them to registry/api/operations.py): "
            + ", ".join(f"{m} {p}" for m, p in missing)
        )
    if stale := sorted(documented - served):
        problems.append(
            "documented operations no route serves: " + ", ".join(f"{m} {p}" for m, p in stale)
        )
    return "\n".join(problems)


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} is not a local reference"
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


async def test_document_names_exactly_the_routes(api: Api) -> None:
    r = await api.client.get("/openapi.json")  # no token: the document is public
    assert r.status == 200
    document = await r.json()
    assert document == openapi_document()
    assert not (problem := drift(api.client.app.router, document)), problem


async def test_the_check_names_what_drifted(api: Api) -> None:
    document = openapi_document()
    paths = document["paths"]
    fewer = {**document, "paths": {p: v for p, v in paths.items() if p != "/api/v1/catalog"}}
    assert "missing from the OpenAPI document" in drift(api.client.app.router, fewer)
    assert "GET /api/v1/catalog" in drift(api.client.app.router, fewer)
    more = {**document, "paths": {**paths, "/api/v1/nothing": {"get": {}}}}
    assert "no route serves: GET /api/v1/nothing" in drift(api.client.app.router, more)


def test_document_is_valid_openapi_31_and_every_ref_resolves() -> None:
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    validate(document)
    found = list(refs(document))
    assert found
    for ref in found:
        resolve(document, ref)  # KeyError names the first dangling piece


def test_every_api_operation_is_secured_with_problem_errors() -> None:
    for method, path in operations_of(openapi_document()):
        op = openapi_document()["paths"][path][method.lower()]
        secured = path.startswith("/api/v1")
        assert (op["security"] == [{"bearer": []}]) is secured, (method, path)
        assert ("401" in op["responses"]) is secured, (method, path)
        assert op["responses"]["500"] == {"$ref": "#/components/responses/Problem500"}


class Checked:
    """Calls the API and checks each answer against the operation the document names."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.doc = openapi_document()
        self.seen: set[tuple[str, str]] = set()

    def schema_check(self, schema: dict[str, Any], value: Any, what: str) -> None:
        rooted = {**schema, "components": self.doc["components"]}
        validator = OAS31Validator(rooted, format_checker=oas31_format_checker)
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(value)
        ]
        assert not errors, f"{what} does not match the document: {errors}"

    async def __call__(
        self, method: str, template: str, who: str | None = "admin", **kw: Any
    ) -> aiohttp.ClientResponse:
        args = kw.pop("args", {})
        url = template.format(**args) + kw.pop("query", "")
        op = self.doc["paths"][template][method.lower()]
        self.seen.add((method, template))
        if who is None:
            r = await self.api.client.request(method, url, **kw)
        else:
            r = await self.api.call(method, url, who, **kw)
        what = f"{method} {url} -> {r.status}"
        response = op["responses"].get(str(r.status))
        assert response is not None, f"{what} is not documented: {await r.text()}"
        if "$ref" in response:
            response = resolve(self.doc, response["$ref"])
        media = {m.split(";")[0]: v for m, v in response.get("content", {}).items()}
        if r.status != 304:
            assert r.content_type in media, f"{what}: {r.content_type} not in {list(media)}"
        missing = [h for h in response.get("headers", {}) if h not in r.headers]
        assert not missing, f"{what} lacks the documented headers {missing}"
        if r.content_type.endswith("json") and r.status != 304:
            self.schema_check(
                media[r.content_type]["schema"], await r.json(content_type=None), what
            )
        if r.status < 300 and "json" in kw:
            body = op["requestBody"]["content"]["application/json"]["schema"]
            self.schema_check(body, kw["json"], f"request of {what}")
        return r


AGENTS = "/api/v1/agents"
AGENT = AGENTS + "/{agent_id}"
VERSION = AGENT + "/versions/{version}"
ID = {"agent_id": "gl-cbam-calculator"}
V1 = {**ID, "version": "1.0.0"}
V2 = {**ID, "version": "1.1.0"}


async def agents_and_versions(check: Checked) -> None:
    assert (await check("GET", "/healthz", None)).status == 200
    assert (await check("GET", "/metrics", None)).status == 200
    assert (await check("GET", "/openapi.json", None)).status == 200
    assert (await check("GET", "/bundle-verification-key", None)).status == 200  # public
    assert (await check("POST", AGENTS, json={"spec": make_spec()})).status == 201
    form = aiohttp.FormData()
    form.add_field("spec", yaml.safe_dump(make_spec(version="1.1.0")))
    form.add_field("artifact", b"agent code", filename="agent.tar.gz")
    assert (await check("POST", AGENTS, data=form)).status == 201
    assert (await check("POST", AGENTS, json={"spec": make_spec()})).status == 409
    assert (
        await check("POST", AGENTS, data=b"x", headers={"Content-Type": "text/plain"})
    ).status == 415
    assert (await check("GET", AGENTS, query="?tags=cbam,x&status=draft")).status == 200
    assert (await check("GET", AGENTS, query="?page=0")).status == 422
    assert (await check("GET", AGENTS, query="?query=a&query=b")).status == 400
    assert (await check("GET", AGENTS + "/search", query="?query=cbam")).status == 200
    assert (await check("GET", AGENT, args=ID)).status == 200
    assert (await check("GET", AGENT, None, args=ID)).status == 401
    assert (await check("GET", AGENT, args={"agent_id": "gl-missing"})).status == 404
    assert (await check("GET", AGENT + "/versions", args=ID)).status == 200
    assert (await check("GET", VERSION, args=V1)).status == 200
    stale = {"If-Match": '"999"'}
    change = {"status": "active"}
    assert (await check("PATCH", VERSION, args=V1, json=change, headers=stale)).status == 412
    assert (await check("PATCH", VERSION, args=V1, json=change)).status == 409  # not certified
    assert (await check("PATCH", VERSION, "viewer", args=V1, json=change)).status == 403
    assert (await check("PATCH", VERSION, args=V1, json={"status": "gone"})).status == 422


async def certificates_artifacts_audit(check: Checked) -> None:
    cert = {**V1, "expires_at": "2099-01-01T00:00:00Z", "issuer": "TÜV"}
    r = await check("POST", "/api/v1/certificates", json=cert)
    assert r.status == 201
    cert_id = {"certificate_id": (await r.json())["certificate_id"]}
    assert (await check("GET", "/api/v1/certificates/{certificate_id}", args=cert_id)).status == 200
    bad = {**cert, "expires_at": "2099-01-01T00:00:00"}
    assert (await check("POST", "/api/v1/certificates", json=bad)).status == 422
    assert (await check("PATCH", VERSION, args=V1, json={"status": "active"})).status == 200
    r = await check("GET", VERSION + "/artifact", args=V2)
    assert r.status == 200
    match = {"If-None-Match": r.headers["ETag"]}
    assert (await check("GET", VERSION + "/artifact", args=V2, headers=match)).status == 304
    assert (await check("GET", VERSION + "/artifact", args=V1)).status == 404
    assert (await check("GET", "/api/v1/audit", query="?limit=5")).status == 200
    assert (await check("GET", "/api/v1/audit", query="?limit=0")).status == 422
    batch = {"events": [event()]}
    assert (await check("POST", "/api/v1/audit", "service", json=batch)).status == 200
    assert (await check("POST", "/api/v1/audit", "viewer", json=batch)).status == 403
    report = "/api/v1/reports/compliance"
    assert (
        await check("GET", report, "viewer", query="?from=2026-01-01&to=2026-12-31")
    ).status == 200
    assert (await check("GET", report, query="?from=2026-01-01&to=2025-12-31")).status == 422
    assert (await check("GET", report, query="?from=2026-01-01&from=2026-01-02")).status == 400
    nobody = "?from=2026-01-01&to=2026-12-31&agent=gl-nobody"
    assert (await check("GET", report, query=nobody)).status == 404


async def opa_policies_bundles(check: Checked) -> None:
    assert (await check("POST", "/api/v1/opa/status", "service", json=REPORT)).status == 200
    assert (await check("POST", "/api/v1/opa/status", json={"labels": {}})).status == 422
    logs = [decision(1), decision(2)]
    assert (await check("POST", "/api/v1/opa/logs", "service", json=logs)).status == 200
    assert (await check("GET", "/api/v1/opa/instances")).status == 200
    policies, policy = "/api/v1/policies", "/api/v1/policies/{policy_id}"
    r = await check("POST", policies, data=CERT_POLICY.encode(), headers=YAML)
    assert r.status == 201
    pid = {"policy_id": (await r.json())["policy_id"]}
    assert (
        await check("POST", policies, data=b"x", headers={"Content-Type": "text/plain"})
    ).status == 415
    assert (await check("GET", policies)).status == 200
    assert (await check("GET", policy, args=pid)).status == 200
    assert (await check("GET", policy, args={"policy_id": "pol-none"})).status == 404
    reason = {"reason": "noisy"}
    assert (await check("POST", policy + "/disable", args=pid, json=reason)).status == 200
    assert (await check("POST", policy + "/enable", args=pid)).status == 200
    assert (await check("POST", policy + "/enable", args=pid)).status == 409
    replay = "/api/v1/policies/replay"
    draft = {"policy": CERT_POLICY}
    assert (await check("POST", replay, "approver", json=draft)).status == 200
    assert (await check("POST", replay, "viewer", json=draft)).status == 403
    assert (await check("POST", replay, json={"policy": "x: ["})).status == 422
    assert (
        await check("POST", replay, data=b"x", headers={"Content-Type": "text/plain"})
    ).status == 415
    bundle = "/api/v1/bundles/{name}"
    r = await check("GET", bundle, args={"name": "greenlang"})
    assert r.status == 200
    content, match = await r.read(), {"If-None-Match": r.headers["ETag"]}
    assert (await check("GET", bundle, args={"name": "greenlang"}, headers=match)).status == 304
    assert (await check("GET", bundle, args={"name": "absent"})).status == 404
    gz = {"Content-Type": "application/gzip"}
    assert (
        await check("PUT", bundle, args={"name": "mine"}, data=content, headers=gz)
    ).status == 201
    assert (
        await check("PUT", bundle, "viewer", args={"name": "x"}, data=content, headers=gz)
    ).status == 403
    assert (await check("PUT", bundle, args={"name": "y"}, data=b"no", headers=gz)).status == 422
    assert (await check("GET", "/api/v1/catalog")).status == 200
    assert (await check("DELETE", AGENT, args=ID, query="?reason=done")).status == 200
    assert (await check("DELETE", AGENT, args=ID)).status == 409


async def subscriptions(check: Checked) -> None:
    subs, sub = "/api/v1/subscriptions", "/api/v1/subscriptions/{subscription_id}"
    hook = {"url": "https://hooks.example/x", "agent_id": ID["agent_id"], "events": ["*"]}
    r = await check("POST", subs, json=hook)
    assert r.status == 201
    sid = {"subscription_id": (await r.json())["subscription_id"]}
    assert (await check("POST", subs, json={**hook, "url": "ftp://x"})).status == 422
    assert (await check("POST", subs, json={**hook, "agent_id": "gl-none"})).status == 404
    assert (await check("POST", subs, "viewer", json=hook)).status == 403
    assert (
        await check("POST", subs, data=b"x", headers={"Content-Type": "text/plain"})
    ).status == 415
    assert (await check("GET", subs, query="?team=cbam-team")).status == 200
    assert (await check("GET", subs, query="?limit=0")).status == 422
    assert (await check("GET", subs, query="?limit=1&limit=2")).status == 400
    assert (await check("GET", sub, args=sid)).status == 200
    assert (await check("GET", sub, "other_publisher", args=sid)).status == 403
    assert (await check("GET", sub + "/deliveries", args=sid)).status == 200
    assert (await check("GET", sub + "/deliveries", args=sid, query="?limit=x")).status == 422
    assert (await check("DELETE", sub, args=sid)).status == 200
    assert (await check("DELETE", sub, args=sid)).status == 404


async def lifecycle_and_deployments(check: Checked) -> None:
    """After the calls above: 1.0.0 active (no artifact), 1.1.0 a draft with an artifact."""
    deploy, rollback = AGENT + "/deploy", AGENT + "/rollback"
    deployments, deployment = "/api/v1/deployments", "/api/v1/deployments/{deployment_id}"
    prod = {"version": "1.1.0", "environment": "production"}
    r = await check("POST", deploy, "publisher", args=ID, json=prod)
    assert r.status == 403  # no approval yet
    dep = {"deployment_id": (await r.json())["deployment_id"]}
    assert (await check("POST", deploy, args=ID, json={"version": "x"})).status == 422
    assert (await check("POST", deploy, args=ID, json={"version": "1.0.0"})).status == 409
    assert (await check("POST", deployment + "/approvals", "viewer", args=dep)).status == 403
    assert (await check("POST", deployment + "/approvals", args=dep, json={})).status == 200
    assert (await check("POST", deployment + "/approvals", "approver", args=dep)).status == 409
    staging = {"version": "1.1.0", "environment": "staging"}
    r = await check("POST", deploy, "publisher", args=ID, json=staging)
    assert r.status == 201
    staged = {"deployment_id": (await r.json())["deployment_id"]}
    assert (await check("POST", deploy, "publisher", args=ID, json=staging)).status == 200
    assert (await check("GET", deployments, query="?environment=staging")).status == 200
    assert (await check("GET", deployments, query="?limit=0")).status == 422
    assert (await check("GET", deployment, args=dep)).status == 200
    form = aiohttp.FormData()
    form.add_field("spec", yaml.safe_dump(make_spec(version="1.2.0")))
    form.add_field("artifact", b"def run(inputs):\n    return {}\n", filename="agent.py")
    assert (await check("POST", AGENTS, data=form)).status == 201
    V3 = {**ID, "version": "1.2.0"}
    cert = {**V3, "expires_at": "2099-01-01T00:00:00Z", "issuer": "TÜV"}
    assert (await check("POST", "/api/v1/certificates", json=cert)).status == 201
    assert (await check("PATCH", VERSION, args=V3, json={"status": "active"})).status == 200
    back = {"to": "1.0.0", "reason": "test"}
    assert (await check("POST", rollback, args=ID, json=back)).status == 409  # no artifact
    r = await check("POST", rollback, args=ID, json={**back, "to": "1.2.0"})
    assert r.status == 201
    assert (await check("DELETE", deployment, args=dep)).status == 200
    assert (await check("DELETE", deployment, "viewer", args=staged)).status == 403
    assert (await check("DELETE", deployment, args=staged)).status == 200
    sunset = {"sunset": "2099-01-01T00:00:00Z"}
    assert (await check("POST", VERSION + "/deprecate", args=V3, json=sunset)).status == 200
    past = {"sunset": "2000-01-01T00:00:00Z"}
    assert (await check("POST", VERSION + "/deprecate", args=V3, json=past)).status == 422
    assert (await check("POST", VERSION + "/retire", args=V3)).status == 409  # deployed
    retire = {"undeploy": True}
    assert (await check("POST", VERSION + "/retire", args=V3, json=retire)).status == 200


async def canaries(check: Checked) -> None:
    """Nothing runs (no controller here): the refusals and the empty route."""
    canary, route = AGENT + "/canary", AGENT + "/route"
    r = await check("GET", route, "service", args=ID)
    assert r.status == 200 and (await r.json())["canary"] is None
    assert (await check("GET", route, args=ID, query="?environment=BAD")).status == 422
    assert (await check("POST", canary, args=ID, json={"version": "1.1.0"})).status == 409
    assert (await check("POST", canary, args=ID, json={"version": "x"})).status == 422
    assert (await check("GET", canary, args=ID)).status == 404
    assert (await check("POST", canary + "/promote", args=ID)).status == 404
    assert (await check("POST", canary + "/abort", args=ID, json={})).status == 404


async def test_every_operation_answers_as_documented(api: Api) -> None:
    check = Checked(api)
    await agents_and_versions(check)
    await certificates_artifacts_audit(check)
    await subscriptions(check)
    await lifecycle_and_deployments(check)
    await canaries(check)
    await opa_policies_bundles(check)
    assert check.seen == set(operations_of(check.doc)), "add a call for each new operation"
