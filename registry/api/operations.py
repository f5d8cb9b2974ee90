"""What each route takes and returns, for the OpenAPI document: one row per (method, route).

Keys are the route templates the route modules register (regex included), so path parameter
patterns are written once. The router decides which routes exist; tests/api/test_openapi.py
fails when this table and the router disagree. Error statuses listed here are the ones the
handler or its service raises; 401 (on /api/v1), 404 (routes with path parameters: an id that
does not match the pattern finds no route) and 500 are added by openapi.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from kernel.route import Route
from registry.api import (
    agents,
    bundles,
    canary,
    lifecycle,
    policies,
    records,
    reports,
    subscriptions,
)
from registry.api import schemas as s
from registry.audit.models import AuditFilter, AuditPage
from registry.audit.sidecar_intake import IntakeResult, SidecarBatch
from registry.canary.models import AbortRequest, Canary, CanaryRequest
from registry.catalog.models import (
    AgentVersion,
    Certificate,
    CertificateRequest,
    RegistryEntry,
    SearchQuery,
    SearchResult,
    StatusChange,
)
from registry.lifecycle.models import (
    ApprovalRequest,
    Deployment,
    DeployRequest,
    DeprecateRequest,
    RetireRequest,
    RollbackRequest,
)
from registry.replay.models import ReplayRequest
from registry.reports.model import ComplianceReport
from registry.reports.query import ReportQuery
from registry.webhooks.models import (
    CreatedSubscription,
    Delivery,
    DeliveryQuery,
    Subscription,
    SubscriptionQuery,
    SubscriptionRequest,
)

# A pydantic model or type (its JSON Schema is generated), or a JSON Schema dict taken as is.
Schema = Any
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
GZIP = "application/gzip"


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["query", "header"]
    schema: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Op:
    summary: str
    response: Schema | None  # body of the success response; None: no body
    status: int = 200
    also: tuple[int, ...] = ()  # further success statuses with the same body (200 beside 201)
    media: str = "application/json"
    errors: tuple[int, ...] = ()
    body: Mapping[str, Schema] = field(default_factory=dict)  # media type -> schema
    body_required: bool = True
    query: type[BaseModel] | None = None  # a model whose fields are the query parameters
    params: tuple[Param, ...] = ()
    headers: tuple[str, ...] = ()  # response headers of the success response
    not_modified: bool = False  # answers 304 to a matching If-None-Match
    description: str = ""


def _header(name: str, description: str) -> Param:
    return Param(name, "header", {"type": "string"}, description)


IF_NONE_MATCH = _header("If-None-Match", "ETag of the copy you hold: 304 when unchanged")
REGISTRATION_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {"type": "string", "description": "agent spec YAML"},
        "artifact": BINARY,
        "certificate_id": {"type": "string", "maxLength": 200},
    },
}
LIST_FILTERS = "tags and regulatory_scope: repeat the parameter or separate values with commas."
AUDIT_INTAKE = (
    "1 to 500 events per batch, at most 8 MiB. Stored in the audit trail as action "
    "sidecar.invoke, once per event_id: a retried or concurrent batch stores each event once "
    "and counts the rest as duplicates. Any invalid event refuses the whole batch (400, nothing "
    "stored); more than 500 events or 8 MiB is 413, another content type 415, a token without "
    "role service or admin 403."
)
REPORT = (
    "from and to are UTC days (YYYY-MM-DD), both inclusive; at most one of agent, team, scope "
    "(none: every registered agent). format json (this schema), html (one printable page with "
    "inline SVG charts, text/html) or policyreport (a wgpolicyk8s.io/v1alpha2 PolicyReport, one "
    "result per policy and agent). 404: agent not registered. See docs/reports.md."
)
OPA_FORMAT = "OPA's own format, plain or gzip (Content-Encoding or raw gzip body)."
SEARCH = Op(
    "Search agents", SearchResult, errors=(400, 422), query=SearchQuery, description=LIST_FILTERS
)
TOGGLE = Op(
    "Enable a policy (role approver or admin)",
    s.Policy,
    errors=(400, 403, 409, 413, 422),
    body={"application/json": s.ToggleReason},
    body_required=False,
)

SUBSCRIBERS = "Role publisher of the subscription's team (for an agent: its owner team) or admin."
WEBHOOKS = (
    "Events: version.deprecated, version.retired, deployment.ready, deployment.failed, "
    "deployment.stopped, or '*' for all. Give exactly one of agent_id and team. The secret "
    "(HMAC key of X-GreenLang-Signature) is in this response only. See docs/webhooks.md."
)
PROMOTE = (
    "Asks the deployment policies. 201: a new deployment (progressing: the controller starts "
    "it); 200: the live deployment of that version and environment (a pending one is judged "
    "again). 403 policy-denied: stored pending with `violations` and `deployment_id` (approve "
    "it through /api/v1/deployments/{id}/approvals); the version and what runs are unchanged. "
    "409: retired version, no artifact, deleted agent, or a deployment of it still stopping."
)
LIFECYCLE: dict[tuple[str, str], Op] = {
    ("POST", lifecycle.AGENT + "/deploy"): Op(
        "Promote: deploy a version to an environment (publisher of the team or admin)",
        Deployment,
        status=201,
        also=(200,),
        errors=(400, 403, 409, 413, 415, 422, 503),
        body={"application/json": DeployRequest},
        headers=("Location",),
        description=PROMOTE,
    ),
    ("POST", lifecycle.AGENT + "/rollback"): Op(
        "Roll back to an earlier active or deprecated, certified version",
        Deployment,
        status=201,
        errors=(400, 403, 409, 413, 415, 422),
        body={"application/json": RollbackRequest},
        headers=("Location",),
        description="Copies replicas and deployer of the running deployment it replaces; "
        "moves the serving version; audited with from, to, reason and actor.",
    ),
    ("POST", lifecycle.VERSION + "/deprecate"): Op(
        "Deprecate a version with a sunset date (owner team's publisher or admin)",
        AgentVersion,
        errors=(400, 403, 409, 413, 415, 422),
        body={"application/json": DeprecateRequest},
        headers=("ETag",),
    ),
    ("POST", lifecycle.VERSION + "/retire"): Op(
        "Retire a version (409 while deployed unless undeploy)",
        AgentVersion,
        errors=(400, 403, 409, 413, 415, 422),
        body={"application/json": RetireRequest},
        body_required=False,
        headers=("ETag",),
    ),
    ("GET", lifecycle.DEPLOYMENTS): Op(
        "List deployments, newest first",
        list[Deployment],
        errors=(400, 422),
        query=lifecycle.DeploymentQuery,
    ),
    ("GET", lifecycle.DEPLOYMENT): Op("Get a deployment", Deployment),
    ("POST", lifecycle.DEPLOYMENT + "/approvals"): Op(
        "Approve a pending deployment (role approver or admin)",
        Deployment,
        errors=(400, 403, 409, 413, 415, 422, 503),
        body={"application/json": ApprovalRequest},
        body_required=False,
        description="The policies are asked again: progressing when now allowed, else still "
        "pending with the violations that remain. The requester's own approval is recorded "
        "but does not count.",
    ),
    ("DELETE", lifecycle.DEPLOYMENT): Op(
        "Undeploy: request the stop",
        Deployment,
        errors=(400, 403, 409),
        params=(Param("reason", "query", {"type": "string", "maxLength": 1000}),),
    ),
}

ENVIRONMENT = Param(
    "environment", "query", {"type": "string", "pattern": lifecycle.ENVIRONMENT_PATTERN}
)
CANARY_START = (
    "Deploys the version next to the environment's ready deployment (same replicas and "
    "deployer; process or kubernetes) and, once ready, sends it `weight` percent of the calls "
    "through the stable deployment's sidecars. Every `interval_s` the canary is judged "
    "(docs/lifecycle.md): advance, hold, rollback, promote. 403 policy-denied: stored with "
    "its deployment pending approval (`deployment_id`, `canary_id`). 409: a canary under way, "
    "no ready deployment to compare with, the version already deployed, a retired version."
)
CANARY_OPS: dict[tuple[str, str], Op] = {
    ("POST", canary.CANARY): Op(
        "Start a canary release (publisher of the team or admin)",
        Canary,
        status=201,
        errors=(400, 403, 404, 409, 413, 415, 422, 503),
        body={"application/json": CanaryRequest},
        headers=("Location",),
        description=CANARY_START,
    ),
    ("GET", canary.CANARY): Op(
        "The agent's latest canary with every judged interval",
        Canary,
        errors=(400, 404, 422),
        params=(ENVIRONMENT,),
    ),
    ("POST", canary.CANARY + "/promote"): Op(
        "Promote the running canary now, skipping the remaining steps",
        Canary,
        errors=(400, 403, 404, 409, 422),
        params=(ENVIRONMENT,),
    ),
    ("POST", canary.CANARY + "/abort"): Op(
        "Abort: every call back to stable within one sidecar poll, then the canary stops",
        Canary,
        errors=(400, 403, 404, 409, 413, 415, 422),
        body={"application/json": AbortRequest},
        body_required=False,
        params=(ENVIRONMENT,),
    ),
    ("GET", canary.ROUTE): Op(
        "Which versions serve the agent's calls and in what shares (polled by sidecars)",
        Route,
        errors=(400, 404, 422),
        params=(ENVIRONMENT,),
    ),
}

OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/healthz"): Op("Liveness: the database answers", s.Health),
    ("GET", "/metrics"): Op("Prometheus metrics", {"type": "string"}, media=CONTENT_TYPE_LATEST),
    ("GET", "/openapi.json"): Op("This document", {"type": "object"}),
    ("GET", bundles.VERIFICATION_KEY): Op(
        "The public key (PEM) every bundle the registry serves is signed with",
        {"type": "string"},
        media=bundles.PEM,
        description="No token needed. Give it to sidecars (--verification-key) and to OPA "
        "(keys.greenlang, algorithm RS256): docs/bundles.md, Signed bundles.",
    ),
    ("POST", "/api/v1/agents"): Op(
        "Register an agent or a new version",
        RegistryEntry,
        status=201,
        errors=(400, 403, 409, 413, 415, 422),
        body={"multipart/form-data": REGISTRATION_FORM, "application/json": s.JsonRegistration},
        headers=("Location",),
    ),
    ("GET", "/api/v1/agents"): replace(SEARCH, summary="List agents (filters as search)"),
    ("GET", "/api/v1/agents/search"): SEARCH,
    ("GET", agents.AGENT): Op("Get an agent", RegistryEntry),
    ("DELETE", agents.AGENT): Op(
        "Soft delete: retire every version",
        RegistryEntry,
        errors=(400, 403, 409),
        params=(Param("reason", "query", {"type": "string", "maxLength": 2000}),),
    ),
    ("GET", agents.AGENT + "/versions"): Op("List versions", list[AgentVersion]),
    ("GET", agents.VERSION): Op("Get a version", AgentVersion, headers=("ETag",)),
    ("PATCH", agents.VERSION): Op(
        "Change a version's status",
        AgentVersion,
        errors=(403, 409, 412, 413, 415, 422),
        body={"application/json": StatusChange},
        params=(_header("If-Match", "ETag from a read: 412 if the version changed since"),),
        headers=("ETag",),
    ),
    ("GET", agents.VERSION + "/artifact"): Op(
        "Download the artifact (ETag = sha256)",
        BINARY,
        media="application/octet-stream",
        params=(IF_NONE_MATCH,),
        headers=("ETag", "Digest"),
        not_modified=True,
    ),
    ("POST", "/api/v1/certificates"): Op(
        "Issue a certificate",
        Certificate,
        status=201,
        errors=(400, 403, 415, 422),
        body={"application/json": CertificateRequest},
        headers=("Location",),
    ),
    ("GET", records.CERTIFICATE): Op("Get a certificate", Certificate),
    ("GET", "/api/v1/audit"): Op("Audit trail", AuditPage, errors=(400, 422), query=AuditFilter),
    ("POST", "/api/v1/audit"): Op(
        "Report sidecar audit events (role service or admin)",
        IntakeResult,
        errors=(400, 403, 413, 415),
        body={"application/json": SidecarBatch},
        description=AUDIT_INTAKE,
    ),
    ("POST", "/api/v1/opa/status"): Op(
        "OPA status report (role service or admin)",
        s.InstanceRecorded,
        errors=(403, 413, 422),
        body={"application/json": s.OpaStatusReport},
        description=OPA_FORMAT,
    ),
    ("POST", "/api/v1/opa/logs"): Op(
        "OPA decision logs (role service or admin)",
        s.DecisionsStored,
        errors=(403, 413, 422),
        body={"application/json": list[s.DecisionLogEvent]},
        description=OPA_FORMAT,
    ),
    ("GET", "/api/v1/opa/instances"): Op(
        "OPA instances and the bundle revisions they last reported", list[s.OpaInstance]
    ),
    ("GET", "/api/v1/policies"): Op("List policies", list[s.PolicySummary]),
    ("POST", "/api/v1/policies"): Op(
        "Create a policy from YAML (role approver or admin)",
        s.Policy,
        status=201,
        errors=(403, 409, 413, 415, 422),
        body={"application/yaml": {"type": "string", "description": "policy YAML"}},
        headers=("Location",),
    ),
    ("POST", "/api/v1/policies/replay"): Op(
        "Replay recorded decision inputs under a draft policy (role approver or admin)",
        {"type": "object", "description": "the replay report (docs/reports.md, Policy replay)"},
        errors=(403, 413, 415, 422),
        body={"application/json": ReplayRequest},
        description="Nothing is stored: the draft is compared with the current bundle on the "
        "calls of the period (default: the last 7 days) whose inputs the sidecars kept.",
    ),
    ("GET", policies.POLICY): Op("Get a policy with its history", s.Policy),
    ("POST", policies.POLICY + "/enable"): TOGGLE,
    ("POST", policies.POLICY + "/disable"): replace(
        TOGGLE, summary="Disable a policy (role approver or admin)"
    ),
    ("GET", bundles.NAMED): Op(
        "Download an OPA bundle (greenlang: built from the stored policies and catalog)",
        BINARY,
        media=GZIP,
        errors=(503,),
        params=(IF_NONE_MATCH,),
        headers=("ETag",),
        not_modified=True,
    ),
    ("PUT", bundles.NAMED): Op(
        "Publish an OPA bundle under a name (role approver or admin)",
        s.PublishedBundle,
        status=201,
        errors=(403, 409, 413, 415, 422),
        body={GZIP: BINARY, "application/octet-stream": BINARY},
        headers=("ETag",),
    ),
    ("GET", "/api/v1/catalog"): Op("The agent catalog as bundles carry it", s.Catalog),
    ("POST", "/api/v1/subscriptions"): Op(
        "Subscribe a URL to webhook events of an agent or a team",
        CreatedSubscription,
        status=201,
        errors=(400, 403, 404, 409, 415, 422),
        body={"application/json": SubscriptionRequest},
        headers=("Location",),
        description=WEBHOOKS + " " + SUBSCRIBERS,
    ),
    ("GET", "/api/v1/subscriptions"): Op(
        "List webhook subscriptions (admin: all; publisher: the team's)",
        list[Subscription],
        errors=(400, 403, 422),
        query=SubscriptionQuery,
    ),
    ("GET", subscriptions.SUBSCRIPTION): Op(
        "Get a webhook subscription", Subscription, errors=(403,), description=SUBSCRIBERS
    ),
    ("DELETE", subscriptions.SUBSCRIPTION): Op(
        "Delete a webhook subscription (its pending deliveries are given up)",
        Subscription,
        errors=(403,),
        description=SUBSCRIBERS,
    ),
    ("GET", subscriptions.SUBSCRIPTION + "/deliveries"): Op(
        "Deliveries of a subscription, newest first",
        list[Delivery],
        errors=(400, 403, 422),
        query=DeliveryQuery,
        description=SUBSCRIBERS,
    ),
    ("GET", reports.COMPLIANCE): Op(
        "Compliance report of a period (any role)",
        ComplianceReport,
        errors=(400, 404, 422),
        query=ReportQuery,
        description=REPORT,
    ),
    **LIFECYCLE,
    **CANARY_OPS,
}
