"""Check data.greenlang.sidecar before it goes into a bundle.

The decision's obligations (rego/greenlang/obligations.rego) are built from this data on every
call, and the policy sidecar-obligations denies a call whose obligations the sidecar could not
enforce (a mask name without a pattern, a limit that is not a number). That run-time check is
kept small because it runs on every call; this one is complete and runs once per build: it also
refuses unknown keys (a misspelt `max_token` would be ignored), fractional byte or token limits,
mask names that are not plain words, and patterns Python's `re` cannot compile (the sidecar
applies them with `re`; Rego cannot check that).

    {"defaults": {"timeout_s": 30, "max_request_bytes": 10485760,
                  "max_response_bytes": 52428800, "max_tokens": null, "mask": ["email", "iban"]},
     "agents": {"<agent id>": {<any of the defaults' keys>, "mask_patterns": {...}}},
     "mask_patterns": {"email": "<Python re pattern>", ...}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SETTINGS = ("timeout_s", "max_request_bytes", "max_response_bytes", "max_tokens", "mask")
MASK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_COUNT = 10**12  # lib.is_count: exact on both engines
MAX_TIMEOUT_S = 86400


class SidecarDataError(ValueError):
    """data.greenlang.sidecar cannot be enforced as written; every problem, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"data.greenlang.sidecar{p}" for p in problems))


def check_sidecar_data(sidecar: Any) -> None:
    """Raise SidecarDataError listing every problem of `sidecar` (data.greenlang.sidecar)."""
    problems = sidecar_data_problems(sidecar)
    if problems:
        raise SidecarDataError(problems)


def sidecar_data_problems(sidecar: Any) -> list[str]:
    """Every problem, each as `<path>: <reason>` with the path relative to the sidecar data."""
    if not isinstance(sidecar, Mapping):
        return [": missing, or not an object (defaults, agents, mask_patterns)"]
    problems: list[str] = []
    for key in sorted(set(sidecar) - {"defaults", "agents", "mask_patterns"}):
        problems.append(f".{key}: unknown key (defaults, agents, mask_patterns)")
    shared = sidecar.get("mask_patterns", {})
    problems += _patterns(".mask_patterns", shared)
    shared_names = set(shared) if isinstance(shared, Mapping) else set()
    defaults = sidecar.get("defaults")
    if not isinstance(defaults, Mapping):
        problems.append(".defaults: missing, or not an object")
    else:
        problems += [f".defaults.{k}: missing" for k in SETTINGS if k not in defaults]
        problems += _settings(".defaults", defaults, shared_names, own_patterns=False)
    agents = sidecar.get("agents", {})
    if not isinstance(agents, Mapping):
        problems.append(".agents: not an object of agent entries")
        agents = {}
    for agent_id in sorted(agents):
        path = f".agents[{agent_id!r}]"
        entry = agents[agent_id]
        if not isinstance(entry, Mapping):
            problems.append(f"{path}: not an object")
            continue
        own = entry.get("mask_patterns", {})
        problems += _patterns(f"{path}.mask_patterns", own)
        names = shared_names | (set(own) if isinstance(own, Mapping) else set())
        problems += _settings(path, entry, names, own_patterns=True)
    return problems


def _settings(
    path: str, settings: Mapping[str, Any], names: set[str], *, own_patterns: bool
) -> list[str]:
    problems = []
    allowed = (*SETTINGS, "mask_patterns") if own_patterns else SETTINGS
    for key in sorted(set(settings) - set(allowed)):
        problems.append(f"{path}.{key}: unknown key ({', '.join(allowed)})")
    if "timeout_s" in settings:
        timeout = settings["timeout_s"]
        if not _number(timeout) or not 0 < timeout <= MAX_TIMEOUT_S:
            problems.append(f"{path}.timeout_s: a number of seconds, more than 0 and at most 86400")
    for key in ("max_request_bytes", "max_response_bytes"):
        if key in settings and not _count(settings[key]):
            problems.append(f"{path}.{key}: a whole number of bytes (0 to 10^12)")
    if "max_tokens" in settings and settings["max_tokens"] is not None:
        if not _count(settings["max_tokens"]):
            problems.append(f"{path}.max_tokens: null or a whole number of tokens (0 to 10^12)")
    if "mask" in settings:
        mask = settings["mask"]
        if not isinstance(mask, list) or not all(isinstance(n, str) for n in mask):
            problems.append(f"{path}.mask: a list of mask names")
        else:
            for name in mask:
                if name not in names:
                    problems.append(f"{path}.mask: {name!r} has no pattern in mask_patterns")
    return problems


def _patterns(path: str, patterns: Any) -> list[str]:
    if not isinstance(patterns, Mapping):
        return [f"{path}: an object of name -> pattern"]
    problems = []
    for name in sorted(patterns):
        pattern = patterns[name]
        if not MASK_NAME.match(name):
            problems.append(
                f"{path}[{name!r}]: mask names are lower-case letters, digits, - and _ "
                "(at most 64, starting with a letter or digit)"
            )
        if not isinstance(pattern, str) or not pattern:
            problems.append(f"{path}[{name!r}]: a non-empty Python regular expression")
            continue
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            problems.append(f"{path}[{name!r}]: not a Python regular expression: {exc}")
            continue
        if compiled.match(""):
            problems.append(f"{path}[{name!r}]: matches the empty string")
    return problems


def _number(x: Any) -> bool:
    return type(x) in (int, float)


def _count(x: Any) -> bool:
    return type(x) is int and 0 <= x <= MAX_COUNT
