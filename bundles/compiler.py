"""Compile YAML policies into one Rego module per policy plus their metadata (data.json).

`compile_policies` validates everything first and raises one PolicyError listing every problem
as `file:line: reason`; `write_output` then writes all files to a temporary directory next to the
target and swaps it in, so a failed or interrupted compile never leaves a half-written output.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from bundles.errors import PolicyError, Problem
from bundles.handwritten import handwritten_modules, read_handwritten
from bundles.layout import (
    COMPILED_MARKER,
    COMPILED_POLICY_DIR,
    POLICY_INDEX_FILE,
    POLICY_META_FILE,
    REGO_DIR,
)
from bundles.model import Policy, PolicyMeta, PolicyType
from bundles.rego_source import render_policy
from bundles.yaml_source import Document, load_documents

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class SourcedPolicy:
    """A validated policy and where it came from."""

    meta: PolicyMeta
    source: str
    line: int
    kind: Literal["yaml", "rego"]
    module: str | None = None  # generated Rego (YAML policies only)


@dataclass(frozen=True)
class CompiledPolicies:
    """Everything a compile produces, before anything is written."""

    policies: tuple[SourcedPolicy, ...]

    def metadata(self) -> dict[str, dict[str, Any]]:
        """data.greenlang.policy_meta: one entry per policy, keyed by its package name.

        Kept small on purpose: the decision iterates it on every query, and regopy's cost
        grows with the size of what it iterates (descriptions live in the module headers)."""
        return {
            p.meta.package_key: {
                "policy_id": p.meta.policy_id,
                "type": p.meta.type.value,
                "name": p.meta.name,
                "enforcement": p.meta.enforcement.value,
                "enabled": p.meta.enabled,
            }
            for p in sorted(self.policies, key=lambda p: p.meta.package_key)
        }

    def index(self) -> dict[str, list[list[str]]]:
        """data.greenlang.policy_index: per policy type, `[key, policy_id]` of each enabled
        policy of that type, in key order.

        What the decision iterates: only the requested types' entries, instead of every
        policy's metadata (regopy pays for each element it looks at)."""
        index: dict[str, list[list[str]]] = {t.value: [] for t in PolicyType}
        for p in sorted(self.policies, key=lambda p: p.meta.package_key):
            if p.meta.enabled:
                index[p.meta.type.value].append([p.meta.package_key, p.meta.policy_id])
        return index

    def files(self) -> dict[str, str]:
        """{relative path: text} of the output directory."""
        out = {
            str(COMPILED_POLICY_DIR / f"{p.meta.package_key}.rego"): p.module
            for p in self.policies
            if p.module is not None
        }
        meta = json.dumps(self.metadata(), indent=2, sort_keys=True, ensure_ascii=False)
        out[str(POLICY_META_FILE)] = meta + "\n"
        index = json.dumps(self.index(), indent=2, sort_keys=True, ensure_ascii=False)
        out[str(POLICY_INDEX_FILE)] = index + "\n"
        out[COMPILED_MARKER] = "Output of bundles.compiler; replaced on every compile.\n"
        return dict(sorted(out.items()))


def display_path(path: Path) -> str:
    """The path relative to the working directory when it is inside it (stable headers)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def policy_files(paths: Iterable[Path | str]) -> list[Path]:
    """YAML files named directly, or found (recursively, sorted) in named directories."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())
        else:
            files.append(path)
    return files


def _describe(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _reason(err: Any) -> str:
    loc, kind, msg = tuple(err["loc"]), err["type"], err["msg"]
    where = _describe(loc)
    if kind == "extra_forbidden":
        return f"unknown field {loc[-1]!r}" + (f" in {_describe(loc[:-1])}" if loc[:-1] else "")
    if kind == "missing":
        return f"missing required field {where!r}"
    if kind == "enum" and loc and loc[-1] == "operator":
        return f"{where}: unknown operator {err['input']!r}; {msg[0].lower()}{msg[1:]}"
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


def _wrap_single_conditions(doc: Document) -> None:
    """`condition: {clause}` is `condition: [{clause}]`; move its recorded lines along."""
    rules = doc.value.get("rules") if isinstance(doc.value, dict) else None
    if not isinstance(rules, list):
        return
    for index, rule in enumerate(rules):
        if isinstance(rule, dict) and isinstance(rule.get("condition"), dict):
            rule["condition"] = [rule["condition"]]
            prefix = ("rules", index, "condition")
            inner = [p for p in doc.lines if p[:3] == prefix and len(p) > 3]
            for path in inner:
                doc.lines[(*prefix, 0, *path[3:])] = doc.lines.pop(path)
            clause_lines = [doc.lines[(*prefix, 0, *p[3:])] for p in inner]
            doc.lines[(*prefix, 0)] = min(clause_lines, default=doc.lines[prefix])


def _validate(doc: Document) -> tuple[Policy | None, list[Problem]]:
    if not isinstance(doc.value, dict):
        return None, [Problem(doc.file, doc.line, "a policy must be a YAML mapping")]
    _wrap_single_conditions(doc)
    try:
        return Policy.model_validate(doc.value), []
    except ValidationError as exc:
        return None, [
            Problem(doc.file, doc.line_of(tuple(err["loc"])), _reason(err)) for err in exc.errors()
        ]


def _read_yaml(path: Path) -> tuple[list[SourcedPolicy], list[Problem]]:
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(shown, 1, f"cannot read: {exc}")]
    docs, problems = load_documents(text, shown)
    if not docs and not problems:
        problems.append(Problem(shown, 1, "no policy in file"))
    found: list[SourcedPolicy] = []
    for doc in docs:
        if doc.problems:  # not plain data: validating it would only add echoes
            problems += doc.problems
            continue
        policy, doc_problems = _validate(doc)
        problems += doc_problems
        if policy is None:
            continue
        locations = [f"{shown}:{doc.line_of(('rules', i))}" for i in range(len(policy.rules))]
        module = render_policy(policy, shown, locations)
        found.append(SourcedPolicy(policy, shown, doc.line, "yaml", module))
    return found, problems


def _read_handwritten(rego_dir: Path) -> tuple[list[SourcedPolicy], list[Problem]]:
    found: list[SourcedPolicy] = []
    problems: list[Problem] = []
    for path in handwritten_modules(rego_dir):
        shown = display_path(path)
        meta, module_problems = read_handwritten(path, shown)
        problems += module_problems
        if meta is not None:
            found.append(SourcedPolicy(meta, shown, 1, "rego"))
    return found, problems


def _duplicates(policies: Sequence[SourcedPolicy]) -> list[Problem]:
    first: dict[str, SourcedPolicy] = {}
    problems = []
    for p in policies:
        seen = first.setdefault(p.meta.policy_id, p)
        if seen is not p:
            problems.append(
                Problem(
                    p.source,
                    p.line,
                    f"duplicate policy_id {p.meta.policy_id!r} "
                    f"(first defined at {seen.source}:{seen.line})",
                )
            )
    return problems


def compile_policies(
    paths: Iterable[Path | str], *, rego_dir: Path | None = REGO_DIR
) -> CompiledPolicies:
    """Validate and compile the YAML policies under `paths` (plus the metadata of the
    hand-written policies under `rego_dir`); raise PolicyError listing every problem."""
    policies: list[SourcedPolicy] = []
    problems: list[Problem] = []
    for path in policy_files(paths):
        found, file_problems = _read_yaml(path)
        policies += found
        problems += file_problems
    if rego_dir is not None:
        found, module_problems = _read_handwritten(rego_dir)
        policies += found
        problems += module_problems
    problems += _duplicates(policies)
    if problems:
        raise PolicyError(problems)
    return CompiledPolicies(tuple(policies))


def write_output(compiled: CompiledPolicies, out_dir: Path | str) -> Path:
    """Replace `out_dir` with the compiled files, all or nothing.

    An existing `out_dir` is only replaced when it is empty or an earlier compile output
    (it has the marker file), so a mistyped path cannot delete someone's directory."""
    out = Path(out_dir)
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / COMPILED_MARKER).exists())
    ):
        raise FileExistsError(f"{out} exists and is not a compile output; not replacing it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; OPA may run as another user
    try:
        for relative, text in compiled.files().items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, retired / "out")
            try:
                os.replace(staging, out)
            except BaseException:
                os.replace(retired / "out", out)
                raise
            finally:
                shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def compile_to_dir(
    paths: Iterable[Path | str], out_dir: Path | str, *, rego_dir: Path | None = REGO_DIR
) -> CompiledPolicies:
    """Compile `paths` and write the result to `out_dir` (nothing is written on error)."""
    compiled = compile_policies(paths, rego_dir=rego_dir)
    write_output(compiled, out_dir)
    return compiled
