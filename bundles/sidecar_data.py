"""The one model of data.greenlang.sidecar and of the obligations a decision builds from it.

Bundle builds validate the data with `SidecarData` (every problem, each naming its field); the
sidecar validates each decision's obligations with `Obligations`, built from the same field
types, and refuses a call whose obligations fail (fail closed). The Rego policy
sidecar-obligations is the only other check: it denies at run time what a bundle not built here
(an OPA loading directories) could still carry. Strict and closed: a misspelt `max_token` is an
unknown key, not an ignored one; `true` is not a number; a limit is a whole number; Python's `re`
must compile every pattern (the sidecar applies them with `re`; Rego cannot check that).

    {"defaults": {"timeout_s": 30, "max_request_bytes": 10485760,
                  "max_response_bytes": 52428800, "max_tokens": null, "mask": ["email", "iban"]},
     "agents": {"<agent id>": {<any of the defaults' keys>, "mask_patterns": {...}}},
     "mask_patterns": {"email": "<Python re pattern>", ...}}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    field_validator,
)
from pydantic_core import PydanticCustomError

MAX_COUNT = 10**12  # lib.is_count: exact on both engines
MAX_TIMEOUT_S = 86400
MASK_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_SHARED_NAMES = "shared mask names"  # validation context: the names data.mask_patterns defines


def _rule(message: str) -> WrapValidator:
    """Report any failure of the wrapped type as `message`: one plain sentence per field rule."""

    def check(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError("sidecar_data", message) from None

    return WrapValidator(check)


def _python_regex(pattern: str) -> str:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise PydanticCustomError(
            "sidecar_data", "not a Python regular expression: {reason}", {"reason": str(exc)}
        ) from None
    if compiled.match(""):
        raise PydanticCustomError("sidecar_data", "matches the empty string")
    return pattern


def _not_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("sidecar_data", "not null: leave the key out for the default")
    return value


Timeout = Annotated[
    float,
    Field(strict=True, gt=0, le=MAX_TIMEOUT_S),
    _rule(f"a number of seconds, more than 0 and at most {MAX_TIMEOUT_S}"),
]
Bytes = Annotated[
    int, Field(strict=True, ge=0, le=MAX_COUNT), _rule("a whole number of bytes (0 to 10^12)")
]
Tokens = Annotated[
    int | None,
    Field(strict=True, ge=0, le=MAX_COUNT),
    _rule("null or a whole number of tokens (0 to 10^12)"),
]
MaskName = Annotated[
    str,
    Field(strict=True, pattern=MASK_NAME),
    _rule(
        "mask names are lower-case letters, digits, - and _ (at most 64, starting with a "
        "letter or digit)"
    ),
]
Pattern = Annotated[
    str,
    Field(strict=True, min_length=1),
    _rule("a non-empty Python regular expression"),
    AfterValidator(_python_regex),
]
MaskList = Annotated[list[str], Field(strict=True), _rule("a list of mask names")]
Patterns = dict[MaskName, Pattern]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _resolvable(names: list[str], info: ValidationInfo, own: Mapping[str, str]) -> list[str]:
    """Every name in `mask` has a pattern, shared or the entry's own (fail closed: a misspelt
    name would otherwise run the agent unmasked)."""
    shared = (info.context or {}).get(_SHARED_NAMES)
    if shared is None:  # validated without parse_sidecar_data: the shared names are unknown
        return names
    for name in names:
        if name not in shared and name not in own:
            raise PydanticCustomError(
                "sidecar_data", "{name} has no pattern in mask_patterns", {"name": repr(name)}
            )
    return names


class Limits(_Closed):
    """What every resolved set of sidecar settings holds: defaults, and each call's obligations."""

    timeout_s: Timeout
    max_request_bytes: Bytes
    max_response_bytes: Bytes
    max_tokens: Tokens


class Defaults(Limits):
    mask: MaskList

    @field_validator("mask")
    @classmethod
    def _mask_resolvable(cls, names: list[str], info: ValidationInfo) -> list[str]:
        return _resolvable(names, info, {})


NotNull = BeforeValidator(_not_null)


class AgentSettings(_Closed):
    """An agent's entry: any of the defaults' keys (each replacing the default) and patterns of
    its own. Declared before `mask`, `mask_patterns` is validated first so `mask` can see it."""

    mask_patterns: Patterns = {}
    timeout_s: Annotated[Timeout | None, NotNull] = None
    max_request_bytes: Annotated[Bytes | None, NotNull] = None
    max_response_bytes: Annotated[Bytes | None, NotNull] = None
    max_tokens: Tokens = None
    mask: Annotated[MaskList | None, NotNull] = None

    @field_validator("mask")
    @classmethod
    def _mask_resolvable(cls, names: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if names is None or "mask_patterns" not in info.data:  # bad patterns: reported already
            return names
        return _resolvable(names, info, info.data["mask_patterns"])


class SidecarData(_Closed):
    """data.greenlang.sidecar. Validate it with `parse_sidecar_data`, which checks mask names
    against the shared patterns too."""

    defaults: Defaults
    agents: dict[str, AgentSettings] = {}
    mask_patterns: Patterns = {}


class MaskRule(_Closed):
    """One mask of a call's obligations, as rego/greenlang/obligations.rego resolves it."""

    name: str
    pattern: Pattern

    @field_validator("pattern", mode="wrap")
    @classmethod
    def _named(cls, value: Any, handler: Callable[[Any], str], info: ValidationInfo) -> str:
        """Say which mask: the path only has its index."""
        try:
            return handler(value)
        except ValidationError as exc:
            raise PydanticCustomError(
                "sidecar_data",
                "{reason} for mask {name}",
                {"reason": exc.errors()[0]["msg"], "name": repr(info.data.get("name"))},
            ) from None


class Obligations(Limits):
    """`obligations` of a decision: what the sidecar must enforce for the call."""

    mask: Annotated[tuple[MaskRule, ...], Field(strict=False)]  # a JSON list

    @property
    def mask_pairs(self) -> tuple[tuple[str, str], ...]:
        return tuple((m.name, m.pattern) for m in self.mask)


class SidecarDataError(ValueError):
    """data.greenlang.sidecar cannot be enforced as written; every problem, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"data.greenlang.sidecar{p}" for p in problems))


def parse_sidecar_data(raw: Any) -> SidecarData:
    """`raw` validated; SidecarDataError naming every problem's field otherwise."""
    patterns = raw.get("mask_patterns", {}) if isinstance(raw, Mapping) else {}
    shared = set(patterns) if isinstance(patterns, Mapping) else set()
    try:
        return SidecarData.model_validate(raw, context={_SHARED_NAMES: shared})
    except ValidationError as exc:
        raise SidecarDataError(problems(exc)) from None


def sidecar_data_problems(raw: Any) -> list[str]:
    """Every problem of `raw`, each as `<path>: <reason>` relative to data.greenlang.sidecar."""
    try:
        parse_sidecar_data(raw)
    except SidecarDataError as exc:
        return exc.problems
    return []


def stock_obligations(data: SidecarData) -> Obligations:
    """The obligations of an agent without an entry: the defaults, mask names resolved."""
    defaults = data.defaults
    patterns = data.mask_patterns
    mask = tuple(MaskRule(name=n, pattern=patterns[n]) for n in sorted(set(defaults.mask)))
    return Obligations(**defaults.model_dump(exclude={"mask"}), mask=mask)


# Fields whose values are objects keyed by names the data chooses (agent ids, mask names).
_KEYED = {"agents", "mask_patterns"}
# The model at each path (`*`: any key or index), to list the keys an unknown one could mean.
Shapes = Mapping[tuple[str, ...], type[BaseModel]]
SIDECAR_SHAPES: Shapes = {(): SidecarData, ("defaults",): Defaults, ("agents", "*"): AgentSettings}
OBLIGATION_SHAPES: Shapes = {(): Obligations, ("mask", "*"): MaskRule}


def problems(exc: ValidationError, shapes: Shapes = SIDECAR_SHAPES) -> list[str]:
    """One `<path>: <reason>` line per error, the path written the way the data reads."""
    return [_problem(e["loc"], e["type"], e["msg"], e["input"], shapes) for e in exc.errors()]


def _problem(
    loc: tuple[int | str, ...], kind: str, message: str, value: Any, shapes: Shapes
) -> str:
    path, shape = "", []
    keyed = False
    for part in loc:
        if part == "[key]":
            continue
        if keyed or isinstance(part, int):
            path += f"[{part!r}]"
            shape.append("*")
        else:
            path += f".{part}"
            shape.append(str(part))
        keyed = not keyed and part in _KEYED
    if kind == "extra_forbidden":
        allowed = shapes.get(tuple(shape[:-1]))
        fields = f" ({', '.join(allowed.model_fields)})" if allowed else ""
        return f"{path}: unknown key{fields}"
    if kind == "missing":
        return f"{path}: missing"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"{path}: {'missing, or ' if value is None else ''}not an object"
    return f"{path}: {message}"
