"""Static guards on the Rego both engines run: only vetted builtins, no constructs regopy
parses differently. The parity tests find behaviour differences; these name the cause early."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import regopy

from bundles.layout import POLICY_TESTS_DIR, REGO_DIR

# Builtins whose behaviour was checked to be the same on OPA 1.22.2 and regopy 1.5.2 for the
# argument types the Rego here passes (docs/policies.md, "Engine differences").
PORTABLE_BUILTINS = {
    "array.concat",
    "concat",  # joins plain strings only (sidecar-obligations checks the names first)
    "contains",
    "count",
    "floor",
    "is_array",
    "is_number",
    "is_object",
    "is_string",
    "max",
    "min",
    "object.get",
    "object.keys",
    "object.remove",
    "object.union",
    "regex.match",
    "replace",  # policy ids: [a-z0-9-] only
    "sort",
    "time.now_ns",
}

CALL = re.compile(r"(?<![\w.])([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\(")
FUNCTION_HEAD = re.compile(r"^([a-z_][a-z0-9_]*)\(.*\)\s*(?::=|if\b|\{)", re.M)


def engine_sources(compiled_dir: Path) -> dict[Path, str]:
    files = [*REGO_DIR.rglob("*.rego"), *compiled_dir.rglob("*.rego")]
    return {p: p.read_text() for p in files if not p.name.endswith("_test.rego")}


def code_only(text: str) -> str:
    """Without comments and string literals (messages may contain parentheses)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    text = re.sub(r"`[^`]*`", "``", text)
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def test_only_portable_builtins(compiled_dir: Path) -> None:
    sources = {p: code_only(t) for p, t in engine_sources(compiled_dir).items()}
    defined = {name for text in sources.values() for name in FUNCTION_HEAD.findall(text)}
    interpreter = regopy.Interpreter()
    for path, text in sources.items():
        for name in CALL.findall(text):
            if name in defined or name.startswith("lib.") or name == "set":  # set(): syntax
                continue
            assert name in PORTABLE_BUILTINS, f"{path}: {name}() is not a vetted builtin"
            assert interpreter.is_builtin(name), f"{path}: regopy lacks {name}()"


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"\[[^\]\n]*\|\s*some\s+\w+\s*,\s*\w+\s+in\b", "`some k, v in` in a comprehension"),
        (r"\{[^}\n]*\|\s*some\s+\w+\s*,\s*\w+\s+in\b", "`some k, v in` in a comprehension"),
        (r"\bsome\s*\[", "destructuring `some [a, b] in`"),
        (r"\\u[0-9a-fA-F]{4}", "a \\u escape (regopy keeps it undecoded)"),
    ],
)
def test_no_constructs_regopy_reads_differently(compiled_dir: Path, pattern: str, why: str) -> None:
    for path, text in engine_sources(compiled_dir).items():
        assert not re.search(pattern, code_only(text) if "\\u" not in pattern else text), (
            f"{path}: {why}"
        )


def test_policy_tests_are_not_engine_sources() -> None:
    """The engines load rego/ (tests excluded); policy tests live apart."""
    assert not list(REGO_DIR.rglob("*_test.rego"))
    assert list(POLICY_TESTS_DIR.glob("*_test.rego"))
