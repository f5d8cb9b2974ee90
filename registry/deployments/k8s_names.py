"""Kubernetes names and label values for registry identifiers.

Agent ids may be 64 characters and versions may hold ``+`` (semver build metadata), so neither is
always a valid object name (DNS-1035 label: ``[a-z]([-a-z0-9]*[a-z0-9])?``, at most 63) or label
value. A value that had to be changed or shortened gets a hash of the original appended, so two
different ids never map to the same name.
"""

from __future__ import annotations

import hashlib
import re

MAX_LENGTH = 63
_HASH_LENGTH = 10
_NAME_INVALID = re.compile(r"[^a-z0-9-]+")
_LABEL_INVALID = re.compile(r"[^A-Za-z0-9_.-]+")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]


def _shorten(text: str, original: str, edge: str) -> str:
    """``text`` cut to leave room for ``-<hash of original>``; ``edge`` chars are trimmed."""
    head = text[: MAX_LENGTH - _HASH_LENGTH - 1].rstrip(edge)
    return f"{head}-{_digest(original)}" if head else _digest(original)


def object_name(text: str) -> str:
    """A DNS-1035 label (valid for Deployments, Services, ConfigMaps, Secrets) for ``text``."""
    name = _NAME_INVALID.sub("-", text.lower()).strip("-")
    if name[:1].isdigit() or not name:
        name = f"gl-{name}".rstrip("-")
    if name == text and len(name) <= MAX_LENGTH:
        return name
    return _shorten(name, text, "-")


def label_value(text: str) -> str:
    """A valid label value for ``text``: itself when it already is one."""
    if len(text) <= MAX_LENGTH and _LABEL_VALUE.match(text):
        return text
    value = _LABEL_INVALID.sub("-", text).strip("-_.")
    return _shorten(value, text, "-_.")


def is_object_name(text: str) -> bool:
    return len(text) <= MAX_LENGTH and bool(_NAME.match(text))
