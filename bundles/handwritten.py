"""Metadata of hand-written Rego policies (the escape hatch for what YAML cannot say).

A hand-written policy is a module `package greenlang.policies.<key>` that starts with an OPA
METADATA annotation whose `custom` section names the policy the way YAML policies do:

    # METADATA
    # title: Rate limiting
    # description: ...
    # custom:
    #   policy_id: rate-limit
    #   type: rate_limiting
    #   enforcement: deny
    #   enabled: true
    package greenlang.policies.rate_limit

The compiler reads it so the policy gets the same data.greenlang.policy_meta entry as a YAML one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bundles.errors import Problem
from bundles.model import PolicyMeta
from bundles.yaml_source import Document, load_documents

PACKAGE_LINE = re.compile(r"^package\s+greenlang\.policies\.([A-Za-z0-9_]+)\s*$")


def _annotation(lines: list[str]) -> tuple[int, list[str]] | None:
    """(line index of `# METADATA`, its YAML lines) for the block right before `package`."""
    for index, line in enumerate(lines):
        if line.strip() == "# METADATA":
            block = []
            for follow in lines[index + 1 :]:
                if not follow.startswith("#"):
                    break
                block.append(follow[2:] if follow.startswith("# ") else follow[1:])
            return index, block
        if line.startswith("package"):
            return None
    return None


def read_handwritten(path: Path, display: str) -> tuple[PolicyMeta | None, list[Problem]]:
    """The policy metadata of one hand-written module, or the problems with it."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    package = next(
        ((i, m) for i, line in enumerate(lines) if (m := PACKAGE_LINE.match(line))), None
    )
    if package is None:
        return None, [Problem(display, 1, "no `package greenlang.policies.<key>` line")]
    package_line, match = package[0] + 1, package[1]
    found = _annotation(lines)
    if found is None:
        return None, [
            Problem(
                display,
                package_line,
                "a hand-written policy needs a METADATA annotation with custom.policy_id, "
                "custom.type, custom.enforcement and custom.enabled before its package",
            )
        ]
    start, block = found
    docs, problems = load_documents("\n".join(block), display)
    problems += [p for doc in docs for p in doc.problems]
    problems = [Problem(p.file, p.line + start + 1, p.reason) for p in problems]
    if problems or len(docs) != 1 or not isinstance(docs[0].value, dict):
        return None, problems or [Problem(display, start + 1, "METADATA must be a mapping")]
    doc = docs[0]
    annotation: dict[str, Any] = doc.value
    custom = annotation.get("custom")
    if not isinstance(custom, dict):
        return None, [Problem(display, start + 1, "METADATA has no `custom` mapping")]
    fields = {
        **custom,
        "name": annotation.get("title"),
        "description": annotation.get("description", ""),
    }
    try:
        meta = PolicyMeta.model_validate(fields)
    except ValidationError as exc:
        return None, [
            Problem(display, _block_line(doc, err["loc"]) + start + 1, _annotation_error(err))
            for err in exc.errors()
        ]
    if meta.package_key != match.group(1):
        return None, [
            Problem(
                display,
                package_line,
                f"package must be greenlang.policies.{meta.package_key} for policy_id "
                f"{meta.policy_id!r}",
            )
        ]
    return meta, []


def _block_line(doc: Document, loc: tuple[Any, ...]) -> int:
    """Line inside the METADATA block of a PolicyMeta field (title/description or custom.*)."""
    if loc and loc[0] == "name":
        return doc.line_of(("title",))
    if loc and loc[0] == "description":
        return doc.line_of(("description",))
    return doc.line_of(("custom", *loc))


def _annotation_error(err: Any) -> str:
    loc = err["loc"]
    if loc and loc[0] == "name":
        key = "title"
    elif loc and loc[0] == "description":
        key = "description"
    else:
        key = "custom." + ".".join(str(p) for p in loc)
    return f"METADATA {key}: {err['msg']}"


def handwritten_modules(rego_dir: Path) -> list[Path]:
    """The hand-written policy modules under rego_dir/greenlang/policies (tests excluded)."""
    directory = rego_dir / "greenlang" / "policies"
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*.rego") if not p.name.endswith("_test.rego"))
