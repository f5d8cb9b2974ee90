"""OpenAPI 3.1 document, with schemas generated from the pydantic models the API returns."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from registry.audit.models import AuditPage
from registry.audit.sidecar_intake import IntakeResult, SidecarBatch
from registry.catalog.models import (
    AgentVersion,
    Certificate,
    CertificateRequest,
    RegistryEntry,
    SearchResult,
    StatusChange,
)
from registry.catalog.spec import AgentSpec

MODELS = (
    AgentSpec,
    AgentVersion,
    AuditPage,
    Certificate,
    CertificateRequest,
    IntakeResult,
    RegistryEntry,
    SearchResult,
    SidecarBatch,
    StatusChange,
)
REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


def _ok(schema: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return {
        status: {"description": "OK", "content": {"application/json": {"schema": schema}}},
        "default": {
            "description": "Error",
            "content": {"application/problem+json": {"schema": _ref("Problem")}},
        },
    }


def _q(name: str, kind: str = "string", array: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if array:
        schema = {"type": "array", "items": schema}
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "style": "form",
        "explode": True,
    }


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


SEARCH_PARAMS = [
    _q("query"),
    _q("tags", array=True),
    _q("regulatory_scope", array=True),
    _q("owner_team"),
    _q("status"),
    _q("type"),
    _q("page", "integer"),
    _q("page_size", "integer"),
]
AGENT = [_path("agent_id")]
VERSION = [*AGENT, _path("version")]

PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/agents": {
        "post": {
            "summary": "Register an agent or a new version",
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "spec": {"type": "string", "description": "agent spec YAML"},
                                "artifact": {"type": "string", "format": "binary"},
                                "certificate_id": {"type": "string"},
                            },
                        }
                    },
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "spec": _ref("AgentSpec"),
                                "certificate_id": {"type": "string"},
                            },
                        }
                    },
                },
            },
            "responses": _ok(_ref("RegistryEntry"), "201"),
        },
        "get": {
            "summary": "List agents (filters as search)",
            "parameters": SEARCH_PARAMS,
            "responses": _ok(_ref("SearchResult")),
        },
    },
    "/api/v1/agents/search": {
        "get": {
            "summary": "Search agents",
            "parameters": SEARCH_PARAMS,
            "responses": _ok(_ref("SearchResult")),
        }
    },
    "/api/v1/agents/{agent_id}": {
        "get": {
            "summary": "Get an agent",
            "parameters": AGENT,
            "responses": _ok(_ref("RegistryEntry")),
        },
        "delete": {
            "summary": "Soft delete: retire every version",
            "parameters": [*AGENT, _q("reason")],
            "responses": _ok(_ref("RegistryEntry")),
        },
    },
    "/api/v1/agents/{agent_id}/versions": {
        "get": {
            "summary": "List versions",
            "parameters": AGENT,
            "responses": _ok({"type": "array", "items": _ref("AgentVersion")}),
        }
    },
    "/api/v1/agents/{agent_id}/versions/{version}": {
        "get": {
            "summary": "Get a version",
            "parameters": VERSION,
            "responses": _ok(_ref("AgentVersion")),
        },
        "patch": {
            "summary": "Change a version's status",
            "parameters": VERSION,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("StatusChange")}},
            },
            "responses": _ok(_ref("AgentVersion")),
        },
    },
    "/api/v1/agents/{agent_id}/versions/{version}/artifact": {
        "get": {
            "summary": "Download the artifact (ETag = sha256)",
            "parameters": VERSION,
            "responses": {
                "200": {
                    "description": "artifact bytes",
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                }
            },
        }
    },
    "/api/v1/certificates": {
        "post": {
            "summary": "Issue a certificate",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("CertificateRequest")}},
            },
            "responses": _ok(_ref("Certificate"), "201"),
        }
    },
    "/api/v1/certificates/{certificate_id}": {
        "get": {
            "summary": "Get a certificate",
            "parameters": [_path("certificate_id")],
            "responses": _ok(_ref("Certificate")),
        }
    },
    "/api/v1/audit": {
        "get": {
            "summary": "Audit trail",
            "parameters": [
                _q("agent_id"),
                _q("action"),
                _q("request_id"),
                _q("decision"),
                _q("since"),
                _q("until"),
                _q("after_seq", "integer"),
                _q("limit", "integer"),
            ],
            "responses": _ok(_ref("AuditPage")),
        },
        "post": {
            "summary": "Report sidecar audit events (role service or admin)",
            "description": (
                "1 to 500 events per batch, at most 8 MiB. Stored in the audit trail as action "
                "sidecar.invoke, once per event_id: a retried or concurrent batch stores each "
                "event once and counts the rest as duplicates. Any invalid event refuses the "
                "whole batch (400, nothing stored); more than 500 events or 8 MiB is 413, "
                "another content type 415, a token without role service or admin 403."
            ),
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("SidecarBatch")}},
            },
            "responses": _ok(_ref("IntakeResult")),
        },
    },
    "/api/v1/opa/status": {
        "post": {
            "summary": "OPA status report (role service or admin)",
            "requestBody": {"required": True, "content": {"application/json": {}}},
            "responses": _ok({"type": "object"}),
        }
    },
    "/api/v1/opa/logs": {
        "post": {
            "summary": "OPA decision logs, gzip JSON array (role service or admin)",
            "requestBody": {"required": True, "content": {"application/json": {}}},
            "responses": _ok({"type": "object"}),
        }
    },
}

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}


def openapi_document() -> dict[str, Any]:
    _, defs = models_json_schema([(m, "serialization") for m in MODELS], ref_template=REF)
    schemas = dict(defs.get("$defs", {}))
    schemas["Problem"] = PROBLEM
    return {
        "openapi": "3.1.0",
        "info": {"title": "GreenLang Agent Registry", "version": "1.0.0"},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": PATHS,
    }
