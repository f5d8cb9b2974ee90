"""The YAML policy language (Appendix B of the plan), as pydantic models.

A rule is violated when every clause of its `condition` holds and its `requirement` does not.
A clause on a field the input (merged with bundle data) does not have: `not_null` fails,
`is_null` holds, and every other operator is false. So a condition on a missing field does not
hold (the rule does not apply) and a requirement on a missing field is not met (violation).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bundles.portable_numbers import number_problem
from bundles.portable_regex import check_pattern

POLICY_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,63}$"

# Top-level keys of the decision input (docs/policies.md); `derived` is computed by lib.rego.
FIELD_ROOTS = frozenset(
    {
        "action",
        "policy_types",
        "user",
        "agent",
        "request",
        "deployment",
        "rate",
        "tokens",
        "usage",
        "phase",
        "now",
        "derived",
    }
)
# Measured per call by the sidecar: only rate_limiting policies read them (docs/sidecar.md).
PER_CALL_ROOTS = frozenset({"rate", "tokens", "usage"})
FIELD_SEGMENT = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
MAX_FIELD_DEPTH = 8


class PolicyType(StrEnum):
    ACCESS_CONTROL = "access_control"
    RATE_LIMITING = "rate_limiting"
    COMPLIANCE = "compliance"
    DEPLOYMENT = "deployment"
    DATA_ACCESS = "data_access"
    RETENTION = "retention"


class Enforcement(StrEnum):
    DENY = "deny"
    WARN = "warn"


class Operator(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    IN = "in"
    NOT_IN = "not_in"
    NOT_NULL = "not_null"
    IS_NULL = "is_null"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    MATCHES = "matches"
    CONTAINS = "contains"


UNARY = frozenset({Operator.NOT_NULL, Operator.IS_NULL})
NUMERIC = frozenset({Operator.GT, Operator.GTE, Operator.LT, Operator.LTE})
LISTS = frozenset({Operator.IN, Operator.NOT_IN})

Scalar = str | int | float | bool


def _is_plain(text: str) -> bool:
    """Printable ASCII without quote or backslash: what string operators can match (lib.plain)."""
    return all(" " <= c <= "~" and c not in '"\\' for c in text)


def _check_text(text: str, what: str) -> str:
    """Strings emitted into Rego must not carry control characters (regopy keeps escapes raw)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError(f"{what} may not contain control characters")
    return text


def _check_scalar(value: Any, what: str) -> Scalar:
    """A JSON scalar both engines read the same: no null, NaN, infinity or out-of-range number."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        problem = number_problem(value)
        if problem:
            raise ValueError(f"{what} {problem}")
        return value
    if isinstance(value, str):
        return _check_text(value, what)
    raise ValueError(f"{what} must be a string, number or boolean, not {_kind(value)}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class Clause(BaseModel):
    """`field operator value`: a test of one dotted field of the decision input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: StrictStr
    operator: Operator
    value: Any = None

    @field_validator("field")
    @classmethod
    def _dotted_path(cls, path: str) -> str:
        segments = path.split(".")
        if len(segments) > MAX_FIELD_DEPTH:
            raise ValueError(f"field paths have at most {MAX_FIELD_DEPTH} segments")
        for segment in segments:
            if not FIELD_SEGMENT.match(segment):
                raise ValueError(
                    f"field {path!r}: each dotted segment is lower-case letters, digits and _, "
                    "not starting with a digit"
                )
        if segments[0] not in FIELD_ROOTS:
            raise ValueError(
                f"unknown input field {segments[0]!r}; fields start with one of "
                + ", ".join(sorted(FIELD_ROOTS))
            )
        return path

    @field_validator("value")
    @classmethod
    def _value_fits_operator(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("operator")
        if op is None:
            return value  # the operator itself is wrong; reported on its own
        if op in UNARY:
            raise ValueError(f"operator {op.value} takes no value")
        if op in LISTS:
            if not isinstance(value, list) or not value:
                raise ValueError(f"operator {op.value} needs a non-empty list, not {_kind(value)}")
            return [_check_scalar(v, f"each {op.value} item") for v in value]
        if op in NUMERIC:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"operator {op.value} needs a number, not {_kind(value)}")
            return _check_scalar(value, f"the {op.value} value")
        if op is Operator.MATCHES:
            if not isinstance(value, str):
                raise ValueError(
                    f"operator matches needs a regular expression string, not {_kind(value)}"
                )
            try:
                check_pattern(value)
            except ValueError as exc:
                raise ValueError(f"bad regular expression {value!r}: {exc}") from None
            return value
        scalar = _check_scalar(value, f"the {op.value} value")
        if op is Operator.CONTAINS and isinstance(scalar, str) and not _is_plain(scalar):
            raise ValueError(
                "a contains string must be printable ASCII without quotes or backslashes "
                "(only such text is matched)"
            )
        return scalar

    @model_validator(mode="after")
    def _value_present(self) -> Clause:
        if self.operator not in UNARY and "value" not in self.model_fields_set:
            raise ValueError(f"operator {self.operator.value} needs a value")
        if self.operator not in UNARY and self.value is None:
            raise ValueError(
                f"operator {self.operator.value} needs a value (use is_null / not_null for null)"
            )
        return self


Message = Annotated[StrictStr, Field(min_length=1, max_length=500)]


def _check_message(message: str | None) -> str | None:
    """Messages are sorted in decisions; quotes and backslashes sort differently per engine."""
    if message is None:
        return None
    _check_text(message, "a message")
    if '"' in message or "\\" in message:
        raise ValueError("a message may not contain double quotes or backslashes")
    return message


class Rule(BaseModel):
    """Violated when every condition clause holds and the requirement does not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    condition: Annotated[list[Clause], Field(min_length=1, max_length=16)]
    requirement: Clause
    message: Message | None = None

    @field_validator("condition", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @field_validator("message")
    @classmethod
    def _message_text(cls, message: str | None) -> str | None:
        return _check_message(message)


class PolicyMeta(BaseModel):
    """What the decision needs to know of any policy, compiled or hand-written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy_id: Annotated[StrictStr, Field(pattern=POLICY_ID_PATTERN)]
    type: PolicyType
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    description: Annotated[StrictStr, Field(max_length=5000)] = ""
    enforcement: Enforcement
    enabled: StrictBool

    @property
    def package_key(self) -> str:
        """The policy's package name under data.greenlang.policies (ids may not contain _)."""
        return self.policy_id.replace("-", "_")


class Policy(PolicyMeta):
    """A YAML policy exactly in the Appendix B form, plus an optional default message."""

    description: Annotated[StrictStr, Field(min_length=1, max_length=5000)]
    rules: Annotated[list[Rule], Field(min_length=1, max_length=100)]
    message: Message | None = None

    @field_validator("message")
    @classmethod
    def _message_text(cls, message: str | None) -> str | None:
        return _check_message(message)

    @model_validator(mode="after")
    def _measurements_for_rate_policies(self) -> Policy:
        """The sidecar gives its per-call measurements (rate, token usage) only to the
        rate_limiting policies (the rest of a decision is reused between calls)."""
        if self.type == "rate_limiting":
            return self
        for i, rule in enumerate(self.rules):
            for clause in (*rule.condition, rule.requirement):
                root = clause.field.split(".", 1)[0]
                if root in PER_CALL_ROOTS:
                    raise ValueError(
                        f"rules[{i}]: {clause.field}: {root}.* is measured per call and given "
                        "to rate_limiting policies only; make this a rate_limiting policy"
                    )
        return self
