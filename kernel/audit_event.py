"""The sidecar audit event: what a sidecar reports for each proxied call and what the registry's
intake accepts (docs/registry.md, "Sidecar audit intake"). One definition for both sides.

The event is a ``TypedDict`` whose fields carry their pydantic constraints in ``Annotated``
metadata. That gives each side what it needs from the same lines:

- the sidecar builds a plain dict literal typed as :class:`SidecarEvent` (sidecar/call.py):
  mypy checks every key and type, and the hot path (one event per proxied call) pays nothing at
  run time: no model instance, no validation, no dump before the spool's JSON encoding;
- the registry validates what arrives with pydantic (strict, no unknown keys, every key
  required), through the model that embeds these types (registry/sidecar_audit.py), and the
  OpenAPI schema is generated from them.

A pydantic ``BaseModel`` here would have cost the sidecar a validation (or an unchecked
``model_construct`` plus a dump) per call; two definitions would drift.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, NotRequired

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, TypeAdapter, with_config
from typing_extensions import (
    TypedDict,
)

MAX_COUNT: Final = 2**53  # token counts: integers any JSON reader keeps exactly
MAX_INPUT_BYTES: Final = 16 * 1024  # a kept decision input, as compact JSON (docs/sidecar.md)
MAX_INPUT_DEPTH: Final = 16


_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def _no_control(v: str) -> str:
    # NUL cannot be stored by PostgreSQL at all; other control characters have no business in
    # ids and would make log lines and CLI tables lie. (A regex: a per-character loop here was
    # the biggest single cost of validating an intake batch.)
    if _CONTROL.search(v):
        raise ValueError("must not contain control characters")
    return v


def _no_nul(v: str) -> str:
    if "\x00" in v:
        raise ValueError("must not contain NUL characters")
    return v


def _utf8_bytes(limit: int) -> AfterValidator:
    """At most `limit` bytes in UTF-8 (indexed columns: a b-tree entry must stay small)."""

    def check(v: str) -> str:
        if len(v.encode("utf-8", "surrogatepass")) > limit:
            raise ValueError(f"must be at most {limit} bytes in UTF-8")
        return v

    return AfterValidator(check)


def _line(max_length: int, min_length: int = 1) -> StringConstraints:
    return StringConstraints(min_length=min_length, max_length=max_length)


_UUID: Final = TypeAdapter(uuid.UUID)


_CANONICAL_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _canonical_uuid(v: str) -> str:
    """Any spelling pydantic accepts for a UUID, as its canonical lower-case form (what sidecars
    send is that form already, and kept as it is)."""
    if _CANONICAL_UUID.fullmatch(v):
        return v
    return str(_UUID.validate_python(v, strict=False))


RFC3339: Final = re.compile(r"^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)$")


def _rfc3339(v: str) -> str:
    if not RFC3339.match(v):
        raise ValueError("must be an RFC 3339 time with an offset, e.g. 2026-11-24T10:00:00.1Z")
    try:
        parsed = datetime.fromisoformat(v.upper())
    except ValueError:
        raise ValueError("is not a valid date and time") from None
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    return v


# Values the sidecar's configuration or the policies choose: plain text lines.
Id = Annotated[str, _line(200), AfterValidator(_no_control)]
AgentId = Annotated[str, _line(64), AfterValidator(_no_control)]
Name = Annotated[str, _line(200, 0), AfterValidator(_no_control)]
Version = Annotated[str, _line(128, 0), AfterValidator(_no_control)]
Environment = Annotated[str, _line(64, 0), AfterValidator(_no_control)]
# Values callers choose (a request id header, a token subject, a URL path): anything PostgreSQL
# can store, so that one odd caller does not get a whole batch refused.
RequestId = Annotated[str, _line(1024), AfterValidator(_no_nul), _utf8_bytes(1024)]
UserId = Annotated[str, _line(1024, 0), AfterValidator(_no_nul)]
UrlPath = Annotated[str, _line(16384), AfterValidator(_no_nul)]
Message = Annotated[str, StringConstraints(max_length=4000), AfterValidator(_no_nul)]
TraceId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Method = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{1,32}$")]
Verdict = Literal["allow", "warn", "deny", "error", "fail_open"]
# What went wrong, as the sidecar's agent_errors_total type (upstream_reset, upstream_timeout,
# decision_unavailable, ...: docs/sidecar.md). A pattern, not a list: a newer sidecar's new kind
# must not get its batch refused by an older registry.
ErrorKind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Count = Annotated[int | None, Field(ge=0, le=MAX_COUNT)]


def _storable(value: Any, depth: int = 0) -> Any:
    """`value` as PostgreSQL's jsonb keeps it exactly: NUL and lone surrogates (which jsonb
    cannot store) become U+FFFD, non-finite floats null, floats jsonb would print as integers
    integers (so a hash over the value stays the hash of what is read back). ValueError when
    nested deeper than MAX_INPUT_DEPTH."""
    if depth > MAX_INPUT_DEPTH:
        raise ValueError("nested too deeply")
    if isinstance(value, str):
        if value.isascii() and "\x00" not in value:
            return value
        return "".join("\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() and abs(value) >= 1e16 else value
    if isinstance(value, dict):
        return {_storable(k, depth): _storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v, depth + 1) for v in value]
    raise ValueError(f"not a JSON value: {type(value).__name__}")


def input_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON (the cap MAX_INPUT_BYTES is on this)."""
    return len(
        json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")
    )


def _kept_input(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A decision input the registry can store, else None (dropped, never refused: a caller's
    odd path must not cost the batch its other events)."""
    if value is None:
        return None
    try:
        clean = _storable(value)
    except (ValueError, RecursionError):
        return None
    return clean if input_size(clean) <= MAX_INPUT_BYTES else None


DecisionInput = Annotated[dict[str, Any] | None, AfterValidator(_kept_input)]


@with_config(ConfigDict(extra="ignore", strict=True))
class Finding(TypedDict):
    """A violation or warning. Policies may add keys of their own; only these two are kept."""

    policy_id: Id
    message: Message


@with_config(ConfigDict(extra="forbid", strict=True))
class TokenUsage(TypedDict):
    total: Count
    prompt: Count
    completion: Count
    model: Name | None


@with_config(ConfigDict(extra="forbid", strict=True))
class SidecarEvent(TypedDict):
    """One proxied call, as a sidecar reports it (every key is required; nullable ones may be
    null)."""

    event_id: Annotated[
        str,
        AfterValidator(_canonical_uuid),
        Field(
            description="Idempotency key (a UUID, normally v4)",
            json_schema_extra={"format": "uuid"},
        ),
    ]
    time: Annotated[
        str,
        AfterValidator(_rfc3339),
        Field(description="RFC 3339 with an offset", json_schema_extra={"format": "date-time"}),
    ]
    sidecar: Annotated[Id, Field(description="Sidecar instance id")]
    request_id: RequestId
    trace_id: TraceId | None
    user_id: UserId | None
    agent_id: AgentId
    version: Version | None
    action: Literal["invoke"]
    method: Method
    path: UrlPath
    environment: Environment | None
    decision: Verdict
    violations: Annotated[list[Finding], Field(max_length=200)]
    warnings: Annotated[list[Finding], Field(max_length=200)]
    status: Annotated[int, Field(ge=100, le=599, description="HTTP status the caller got")]
    latency_ms: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
    tokens: TokenUsage | None
    # Why the call failed, when it did (absent from sidecars older than the key, null when the
    # call did not fail): the agent's fault (upstream_*), the sidecar's refusal or a limit.
    error: NotRequired[
        Annotated[ErrorKind | None, Field(description="agent_errors_total type, or null")]
    ]
    # The masked decision input the verdict came from, for policy replay (docs/reports.md):
    # {"pre": input, "post": input | null}. Null when not kept (turned off, too large); absent
    # from sidecars older than the key. The registry keeps it outside the hash chain.
    input: NotRequired[
        Annotated[DecisionInput, Field(description="Masked decision input (pre, post) or null")]
    ]


def event_at(event: SidecarEvent) -> datetime:
    """The event's time as an aware UTC datetime (a validated event's ``time``)."""
    return datetime.fromisoformat(event["time"].upper()).astimezone(UTC)
