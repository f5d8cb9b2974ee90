"""The OpenAPI 3.1 document, generated from the operations table and the pydantic models.

Schemas come from the models the handlers use (one joint generation, `$defs` lifted into
`components/schemas`); error responses are RFC 9457 problem details, one component per status,
listing the problem types of registry.errors; path parameters come from the route templates."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from kernel.problems import PROBLEM_BASE, Problem
from registry.api.operations import OPERATIONS, Op, Param, Schema
from registry.api.schemas import ProblemDetails

REF = "#/components/schemas/{model}"
PROBLEM_MEDIA = "application/problem+json"
SECURED_PREFIX = "/api/v1"  # what middleware.bearer_auth guards
# `{name}` or `{name:regex}`, the regex possibly holding `{m,n}` (as aiohttp parses them).
PATH_PARAM = re.compile(r"\{(?P<name>[_a-zA-Z]\w*)(?::(?P<pattern>(?:[^{}]|\{[^{}]*\})+))?\}")
RESPONSE_HEADERS = {
    "Location": "URL of the created resource",
    "ETag": "Entity tag, for If-Match / If-None-Match",
    "Digest": "sha-256 of the body",
}
INTERNAL_ERROR = ("Internal error", PROBLEM_BASE + "internal-error")
# Answered before any handler runs (kernel/http_server.py), so possible on every operation.
PROTOCOL_ERRORS = {
    414: ("URI too long", PROBLEM_BASE + "uri-too-long"),
    431: ("Request header fields too large", PROBLEM_BASE + "request-header-fields-too-large"),
}

Key = tuple[str, str, str, str]  # (method, template, role, media type)


def split_template(template: str) -> tuple[str, list[dict[str, Any]]]:
    """aiohttp route template -> (OpenAPI path, path parameters with their patterns)."""
    params = [
        {
            "name": m["name"],
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": f"^(?:{m['pattern'] or '[^/]+'})$"},
        }
        for m in PATH_PARAM.finditer(template)
    ]
    return PATH_PARAM.sub(lambda m: "{" + m["name"] + "}", template), params


def _typed(ops: dict[tuple[str, str], Op]) -> Iterator[tuple[Key, Any, JsonSchemaMode]]:
    """Every pydantic-typed schema of the table: (key, type, generation mode)."""
    for (method, template), op in ops.items():
        if op.response is not None and not isinstance(op.response, dict):
            yield (method, template, "response", op.media), op.response, "serialization"
        for media, schema in op.body.items():
            if not isinstance(schema, dict):
                yield (method, template, "body", media), schema, "validation"
        if op.query is not None:
            yield (method, template, "query", ""), op.query, "validation"
    yield ("", "", "problem", PROBLEM_MEDIA), ProblemDetails, "serialization"


class Schemas:
    """One joint JSON Schema generation for the whole table, so each model is named once."""

    def __init__(self, ops: dict[tuple[str, str], Op]):
        inputs = [(key, mode, TypeAdapter(tp)) for key, tp, mode in _typed(ops)]
        generated, top = TypeAdapter.json_schemas(inputs, ref_template=REF)
        self._by_key = {key: schema for (key, _mode), schema in generated.items()}
        self.components: dict[str, Any] = dict(top.get("$defs", {}))

    def typed(self, key: Key) -> dict[str, Any]:
        return self._by_key[key]

    def get(self, key: Key, schema: Schema) -> dict[str, Any]:
        """`schema` itself when it is a JSON Schema dict, else what was generated for `key`."""
        return schema if isinstance(schema, dict) else self.typed(key)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref", "")
        return self.components[ref.rsplit("/", 1)[-1]] if ref else schema


def _query_params(schemas: Schemas, key: Key) -> list[dict[str, Any]]:
    """A query model's fields as query parameters (lists: repeat the parameter)."""
    model = schemas.resolve(schemas.typed(key))
    required = set(model.get("required", []))
    params = []
    for name, prop in model["properties"].items():
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            param["description"] = prop["description"]
        if prop.get("type") == "array":
            param |= {"style": "form", "explode": True}
        params.append(param)
    return params


def _param(p: Param) -> dict[str, Any]:
    doc = {"name": p.name, "in": p.where, "required": False, "schema": p.schema}
    return doc | ({"description": p.description} if p.description else {})


def _problem_responses(schemas: Schemas) -> dict[str, Any]:
    """One response per error status, naming the problem types registry.errors has for it."""
    kinds: dict[int, list[tuple[str, str]]] = {500: [INTERNAL_ERROR]}
    kinds |= {status: [kind] for status, kind in PROTOCOL_ERRORS.items()}
    for cls in Problem.__subclasses__():
        kinds.setdefault(cls.status, []).append((cls.title, PROBLEM_BASE + cls.slug))
    schema = schemas.get(("", "", "problem", PROBLEM_MEDIA), ProblemDetails)
    return {
        f"Problem{status}": {
            "description": "; ".join(f"{title} ({uri})" for title, uri in found),
            "content": {PROBLEM_MEDIA: {"schema": schema}},
        }
        for status, found in sorted(kinds.items())
    }


def _success(op: Op, schemas: Schemas, key: Key, status: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"description": "OK" if status == 200 else "Created"}
    if op.response is not None:
        doc["content"] = {op.media: {"schema": schemas.get(key, op.response)}}
    if op.headers:
        doc["headers"] = {
            h: {"description": RESPONSE_HEADERS[h], "schema": {"type": "string"}}
            for h in op.headers
        }
    return doc


def _responses(op: Op, schemas: Schemas, key: Key, secured: bool, routed_404: bool) -> Any:
    responses: dict[str, Any] = {
        str(status): _success(op, schemas, key, status) for status in sorted({op.status, *op.also})
    }
    if op.not_modified:
        responses["304"] = {"description": "Not modified: If-None-Match matched the ETag"}
    errors = {*op.errors, 500, *PROTOCOL_ERRORS}
    errors |= {*([401, 429] if secured else []), *([404] if routed_404 else [])}
    if op.body:  # every body has a size limit and may not decode (malformed, bad encoding)
        errors |= {400, 413}
    for status in sorted(errors):
        responses[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
    return responses


def _operation(method: str, template: str, op: Op, schemas: Schemas) -> dict[str, Any]:
    path, params = split_template(template)
    secured = path.startswith(SECURED_PREFIX)
    if op.query is not None:
        params += _query_params(schemas, (method, template, "query", ""))
    params += [_param(p) for p in op.params]
    doc: dict[str, Any] = {
        "summary": op.summary,
        "tags": [path.split("/")[3] if secured else "service"],
    }
    if op.description:
        doc["description"] = op.description
    if params:
        doc["parameters"] = params
    if op.body:
        content = {
            media: {"schema": schemas.get((method, template, "body", media), schema)}
            for media, schema in op.body.items()
        }
        doc["requestBody"] = {"required": op.body_required, "content": content}
    key = (method, template, "response", op.media)
    doc["responses"] = _responses(op, schemas, key, secured, routed_404="{" in path)
    doc["security"] = [{"bearer": []}] if secured else []
    return doc


def _paths(ops: dict[tuple[str, str], Op], schemas: Schemas) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for (method, template), op in ops.items():
        path, _ = split_template(template)
        paths.setdefault(path, {})[method.lower()] = _operation(method, template, op, schemas)
    return paths


def build_document(ops: dict[tuple[str, str], Op]) -> dict[str, Any]:
    schemas = Schemas(ops)
    paths = _paths(ops, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "GreenLang Agent Registry", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "responses": _problem_responses(schemas),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@cache
def openapi_document() -> dict[str, Any]:
    """The registry's document (built once: it depends on code only)."""
    return build_document(OPERATIONS)


def operations_of(document: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """(METHOD, path) of every operation a document names."""
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    for path, item in document["paths"].items():
        yield from ((m.upper(), path) for m in item if m in methods)
