"""Agent spec YAML: the document a publisher registers. Parsed defensively (no aliases, size
caps)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kernel.safe_yaml import NoAliasLoader
from registry.catalog.models import SemVer

AGENT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,63}$"
RESERVED_IDS = frozenset({"search"})
MAX_SPEC_BYTES = 64 * 1024
MAX_DEPTH = 8


class SpecError(ValueError):
    """An invalid spec; `errors` holds `{"field": dotted.path, "message": ...}` items."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


class AgentMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    team: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    regulatory_scope: list[str] = Field(default_factory=list, max_length=20)
    tags: list[str] = Field(default_factory=list, max_length=30)
    changelog: str = Field(default="", max_length=10_000)

    @field_validator("regulatory_scope", "tags")
    @classmethod
    def _labels(cls, values: list[str]) -> list[str]:
        for v in values:
            if not (1 <= len(v) <= 64) or not v[0].isalnum():
                raise ValueError(
                    f"invalid label {v!r}: 1-64 chars, starting with a letter or digit"
                )
        if len(set(values)) != len(values):
            raise ValueError("duplicate labels")
        return values


class AgentRuntime(BaseModel):
    """How a deployer starts an agent that is its own HTTP server rather than a single file with
    ``run(inputs)`` (that default needs no section). See docs/agent-spec.md, "Runtime contract"."""

    model_config = ConfigDict(extra="forbid", strict=True)

    command: list[str] = Field(min_length=1, max_length=64)
    health_path: str = Field(default="/healthz", pattern=r"^/[!-~]{0,255}$")

    @field_validator("command")
    @classmethod
    def _listens_on_port(cls, values: list[str]) -> list[str]:
        if any(not 1 <= len(v) <= 1024 for v in values):
            raise ValueError("every item must be 1-1024 characters")
        if not any("{port}" in v for v in values):
            raise ValueError("the command must take its port as {port}")
        return values


class AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    agent_id: str = Field(pattern=AGENT_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    version: SemVer
    description: str = Field(min_length=1, max_length=5000)
    type: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    metadata: AgentMetadata
    # left out of the document when absent, so specs without it keep their spec_hash
    runtime: AgentRuntime | None = Field(default=None, exclude_if=lambda v: v is None)

    @field_validator("agent_id")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in RESERVED_IDS:
            raise ValueError(f"{v!r} is reserved (it names an API route)")
        return v

    def spec_hash(self) -> str:
        """Hash of the canonical JSON form, so formatting changes do not change the hash."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def load_yaml_document(text: str | bytes) -> Any:
    """Parse one YAML document safely; raises SpecError with a `spec` field on any problem."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError([{"field": "spec", "message": f"larger than {MAX_SPEC_BYTES} bytes"}])
    try:
        doc = yaml.load(text, Loader=NoAliasLoader)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        raise SpecError(
            [{"field": "spec", "message": f"invalid YAML: {exc}".splitlines()[0]}]
        ) from None
    if _depth(doc) > MAX_DEPTH:
        raise SpecError([{"field": "spec", "message": f"nested deeper than {MAX_DEPTH} levels"}])
    return doc


def validate_spec(doc: Any) -> AgentSpec:
    """Validate a parsed document; errors name the dotted field path."""
    if not isinstance(doc, dict):
        raise SpecError([{"field": "spec", "message": "must be a mapping"}])
    try:
        return AgentSpec.model_validate(doc)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            path = ".".join(str(p) for p in err["loc"]) or "spec"
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = "unknown field"
            elif err["type"] == "missing":
                message = "required field missing"
            errors.append({"field": path, "message": message})
        raise SpecError(errors) from None


def parse_spec(text: str | bytes) -> AgentSpec:
    return validate_spec(load_yaml_document(text))
