"""The compiler: every error names file:line, nothing is written on error, output is stable."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from bundles.compiler import compile_policies, compile_to_dir, write_output
from bundles.errors import PolicyError, Problem
from bundles.layout import (
    COMPILED_MARKER,
    POLICY_INDEX_FILE,
    POLICY_META_FILE,
    REGO_DIR,
    STOCK_POLICY_DIR,
)
from bundles.rego_source import field_ref
from tests.support.servers import find_binary

GOOD = """\
policy_id: {policy_id}
type: compliance
name: Certification Required for Production
description: All agents must be certified before production deployment

rules:
  - condition:
      field: deployment.environment
      operator: equals
      value: production
    requirement:
      field: agent.certificate_id
      operator: not_null

enforcement: deny
enabled: true
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(*paths: Path, rego_dir: Path | None = None) -> list[Problem]:
    with pytest.raises(PolicyError) as info:
        compile_policies(paths, rego_dir=rego_dir)
    return info.value.problems


def only_problem(path: Path) -> Problem:
    problems = problems_of(path)
    assert len(problems) == 1, problems
    assert problems[0].file == str(path)
    return problems[0]


ERROR_CASES = {
    "non-printable character": (
        GOOD.replace("enabled: true", "enabled: true\nnote: \x7f\x93"),
        1,
        "special characters are not allowed",
    ),
    "yaml syntax": (
        "policy_id: a-b\nrules: [\n  - x\nenforcement: deny\n",
        3,
        "invalid YAML",
    ),
    "unknown operator": (
        GOOD.replace("operator: equals", "operator: equal"),
        9,
        "rules[0].condition[0].operator: unknown operator 'equal'",
    ),
    "wrong value type for in": (
        GOOD.replace("operator: equals", "operator: in"),
        10,
        "operator in needs a non-empty list, not str",
    ),
    "value for not_null": (
        GOOD.replace("operator: not_null", "operator: not_null\n      value: x"),
        14,
        "operator not_null takes no value",
    ),
    "missing value": (
        GOOD.replace("      value: production\n", ""),
        8,
        "operator equals needs a value",
    ),
    "number operator with a string": (
        GOOD.replace(
            "operator: equals\n      value: production", "operator: gt\n      value: lots"
        ),
        10,
        "operator gt needs a number",
    ),
    "bad regex": (
        GOOD.replace(
            "operator: equals\n      value: production",
            "operator: matches\n      value: '(?i)prod'",
        ),
        10,
        "bad regular expression '(?i)prod'",
    ),
    "invalid regex": (
        GOOD.replace(
            "operator: equals\n      value: production", "operator: matches\n      value: 'prod('"
        ),
        10,
        "bad regular expression",
    ),
    "unknown field": (
        GOOD.replace("enabled: true", "enabled: true\nowner: me"),
        17,
        "unknown field 'owner'",
    ),
    "unknown field in a clause": (
        GOOD.replace("      operator: not_null", "      operator: not_null\n      values: [1]"),
        14,
        "unknown field 'values' in rules[0].requirement",
    ),
    "unknown input field": (
        GOOD.replace("field: deployment.environment", "field: deploy.environment"),
        8,
        "unknown input field 'deploy'",
    ),
    "missing required field": (
        GOOD.replace("enforcement: deny\n", ""),
        1,
        "missing required field 'enforcement'",
    ),
    "bad enforcement": (GOOD.replace("enforcement: deny", "enforcement: block"), 15, "enforcement"),
    "bad policy_id": (GOOD, 1, "policy_id"),
    "duplicate key": (
        GOOD.replace("enabled: true", "enabled: true\nenabled: false"),
        17,
        "duplicate key 'enabled'",
    ),
    "anchor": (
        GOOD.replace("value: production", "value: &p production"),
        10,
        "anchors are not allowed",
    ),
    "timestamp": (GOOD.replace("value: production", "value: 2026-01-01"), 10, "quoted strings"),
    "not a mapping": ("- just\n- a list\n", 1, "must be a YAML mapping"),
    "empty file": ("", 1, "no policy in file"),
    "quote in message": (
        GOOD.replace("enabled: true", 'enabled: true\nmessage: say "no"'),
        17,
        "double quotes",
    ),
}


@pytest.mark.parametrize("kind", sorted(ERROR_CASES))
def test_error_names_file_line_and_reason(kind: str, tmp_path: Path) -> None:
    text, line, reason = ERROR_CASES[kind]
    policy_id = "Bad_ID" if kind == "bad policy_id" else "pol-test"
    path = write(tmp_path, "policy.yaml", text.replace("{policy_id}", policy_id))
    problem = only_problem(path)
    assert problem.line == line, problem
    assert reason in problem.reason, problem
    assert str(problem).startswith(f"{path}:{line}: ")


def test_duplicate_policy_id_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD.format(policy_id="pol-same"))
    second = write(
        tmp_path, "b.yaml", "# the same policy again\n" + GOOD.format(policy_id="pol-same")
    )
    (problem,) = problems_of(tmp_path)
    assert problem.file == str(second)
    assert problem.line == 2
    assert (
        f"duplicate policy_id 'pol-same' (first defined at {tmp_path / 'a.yaml'}:1)"
        in problem.reason
    )


def test_duplicate_of_a_handwritten_policy(tmp_path: Path) -> None:
    path = write(tmp_path, "rbac.yaml", GOOD.format(policy_id="rbac-access-control"))
    (problem,) = problems_of(path, rego_dir=REGO_DIR)
    assert "duplicate policy_id 'rbac-access-control'" in problem.reason


def test_every_problem_of_every_file_is_listed(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        GOOD.format(policy_id="pol-a").replace("operator: equals", "operator: is"),
    )
    write(
        tmp_path,
        "b.yaml",
        GOOD.format(policy_id="pol-b")
        .replace("type: compliance", "type: nope")
        .replace("operator: not_null", "operator: not_null\n      value: 1"),
    )
    problems = problems_of(tmp_path)
    assert [(Path(p.file).name, p.line) for p in problems] == [
        ("a.yaml", 9),
        ("b.yaml", 2),
        ("b.yaml", 14),
    ]
    message = str(PolicyError(problems))
    assert message.count("\n") == 2


def test_multiple_documents_in_one_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pack.yaml",
        GOOD.format(policy_id="pol-one")
        + "---\n"
        + GOOD.format(policy_id="pol-two").replace("operator: not_null", "operator: nope"),
    )
    (problem,) = problems_of(path)
    assert problem.line == 30  # second document (from line 18), its requirement operator


def test_nothing_written_on_error(tmp_path: Path) -> None:
    write(tmp_path, "ok.yaml", GOOD.format(policy_id="pol-ok"))
    bad = write(
        tmp_path,
        "bad.yaml",
        GOOD.format(policy_id="pol-bad").replace("operator: equals", "operator: eq"),
    )
    fresh = tmp_path / "out-fresh"
    with pytest.raises(PolicyError):
        compile_to_dir([tmp_path], fresh)
    assert not fresh.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    previous = tmp_path / "out-previous"
    bad.unlink()
    compile_to_dir([tmp_path], previous)
    before = {p: p.read_bytes() for p in previous.rglob("*") if p.is_file()}
    write(
        tmp_path,
        "bad.yaml",
        GOOD.format(policy_id="pol-bad").replace("value: production", "value: [1]"),
    )
    with pytest.raises(PolicyError):
        compile_to_dir([tmp_path], previous)
    assert {p: p.read_bytes() for p in previous.rglob("*") if p.is_file()} == before


def test_output_layout_and_metadata(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p.yaml",
        GOOD.format(policy_id="pol-layout").replace("enabled: true", "enabled: false"),
    )
    out = tmp_path / "out"
    compile_to_dir([tmp_path / "p.yaml"], out, rego_dir=None)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [
        COMPILED_MARKER,
        "greenlang/policies/pol_layout.rego",
        str(POLICY_INDEX_FILE),
        str(POLICY_META_FILE),
    ]
    # disabled: in the metadata, not in the index the decision runs from
    assert json.loads((out / POLICY_INDEX_FILE).read_text()) == {
        "access_control": [],
        "compliance": [],
        "data_access": [],
        "deployment": [],
        "rate_limiting": [],
        "retention": [],
    }
    meta = json.loads((out / POLICY_META_FILE).read_text())
    assert meta == {
        "pol_layout": {
            "policy_id": "pol-layout",
            "type": "compliance",
            "name": "Certification Required for Production",
            "enforcement": "deny",
            "enabled": False,
        }
    }
    module = (out / "greenlang/policies/pol_layout.rego").read_text()
    assert module.startswith(f"# Generated by bundles.compiler from {tmp_path / 'p.yaml'}\n")
    assert "package greenlang.policies.pol_layout\n" in module


def test_recompile_replaces_previous_output(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write(src, "a.yaml", GOOD.format(policy_id="pol-a"))
    out = tmp_path / "out"
    compile_to_dir([src], out)
    (src / "a.yaml").unlink()
    write(src, "b.yaml", GOOD.format(policy_id="pol-b"))
    compile_to_dir([src], out)
    assert sorted(p.name for p in (out / "greenlang/policies").iterdir()) == ["pol_b.rego"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_refuses_to_replace_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        write_output(compile_policies([STOCK_POLICY_DIR]), tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_output_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    compile_to_dir([STOCK_POLICY_DIR], first)
    compile_to_dir([STOCK_POLICY_DIR], second)
    assert tree(first) == tree(second)
    # Listing the files in another order changes nothing either.
    files = sorted(STOCK_POLICY_DIR.glob("*.yaml"), reverse=True)
    assert compile_policies(files).files() == compile_policies([STOCK_POLICY_DIR]).files()


def test_single_clause_same_as_one_item_list(tmp_path: Path) -> None:
    single = write(tmp_path, "single.yaml", GOOD.format(policy_id="pol-x"))
    single_clause = (
        "  - condition:\n"
        "      field: deployment.environment\n"
        "      operator: equals\n"
        "      value: production"
    )
    one_item_list = (
        "  - condition:\n"
        "      - field: deployment.environment\n"
        "        operator: equals\n"
        "        value: production"
    )
    listed = GOOD.format(policy_id="pol-x").replace(single_clause, one_item_list)
    assert listed != GOOD.format(policy_id="pol-x")
    other = tmp_path / "other"
    other.mkdir()
    write(other, "single.yaml", listed)
    a = compile_policies([single], rego_dir=None).files()
    b = compile_policies([other / "single.yaml"], rego_dir=None).files()

    def body(files: dict[str, str]) -> list[str]:
        module = files["greenlang/policies/pol_x.rego"]
        return [
            line for line in module.splitlines() if not line.startswith(("# Generated", "# Rule"))
        ]

    assert body(a) == body(b)


def test_generated_rego_is_opa_clean(compiled_dir: Path) -> None:
    """`opa check --strict` accepts the output and `opa fmt` would not change it."""
    opa = find_binary("opa")
    check = subprocess.run(
        [opa, "check", "--strict", str(REGO_DIR), str(compiled_dir)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [opa, "fmt", "--list", str(compiled_dir), str(REGO_DIR)], capture_output=True, text=True
    )
    assert fmt.returncode == 0 and fmt.stdout == "", fmt.stdout + fmt.stderr


def test_keyword_segments_and_every_operator_compile(tmp_path: Path) -> None:
    rules = []
    for op, value in [
        ("equals", '"x"'),
        ("not_equals", "3"),
        ("in", "[a, 1, true]"),
        ("not_in", "[b]"),
        ("not_null", None),
        ("is_null", None),
        ("gt", "1"),
        ("gte", "1.5"),
        ("lt", "-2"),
        ("lte", "0"),
        ("matches", "'^a`b$'"),
        ("contains", "admin"),
    ]:
        value_line = f"\n        value: {value}" if value is not None else ""
        rules.append(
            f"  - condition:\n      field: request.in\n      operator: {op}{value_line}\n"
            f"    requirement:\n      field: agent.default.with\n      operator: is_null\n"
        )
    text = GOOD.format(policy_id="pol-ops").split("rules:")[0] + "rules:\n" + "".join(rules)
    text += "enforcement: warn\nenabled: true\n"
    path = write(tmp_path, "ops.yaml", text.replace("\n        value", "\n      value"))
    out = tmp_path / "out"
    compile_to_dir([path], out, rego_dir=None)
    module = (out / "greenlang/policies/pol_ops.rego").read_text()
    assert 'lib.request.request["in"]' in module
    assert 'lib.agent["default"]["with"]' not in module  # is_null reads with object.get
    assert 'object.get(lib.agent, ["default", "with"], null) == null' in module
    assert "warnings contains" in module and "violations contains" not in module
    check = subprocess.run(
        [find_binary("opa"), "check", "--strict", str(REGO_DIR), str(out)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


HANDWRITTEN = """\
# METADATA
# title: Probe
# custom:
#   policy_id: probe-policy
#   type: compliance
#   enforcement: deny
#   enabled: true
package greenlang.policies.probe_policy

policy_id := "probe-policy"
"""


@pytest.mark.parametrize(
    ("field", "ref"),
    [
        ("agent.id", "lib.input_agent.id"),  # same value, without merging the catalog entry
        ("agent.id.x", "lib.input_agent.id.x"),
        ("agent.owner_team", "lib.agent.owner_team"),
        ("agent.identity", "lib.agent.identity"),
        ("user.id", "lib.user.id"),
        ("derived.certificate_expired", "lib.derived.certificate_expired"),
        ("request.path", "lib.request.request.path"),
        ("usage.total_tokens", "lib.request.usage.total_tokens"),
        ("phase", "lib.request.phase"),
        ("now", "lib.now"),
    ],
)
def test_field_references(field: str, ref: str) -> None:
    assert field_ref(field) == ref


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (HANDWRITTEN.replace("type: compliance", "type: nope"), 5, "METADATA custom.type"),
        (HANDWRITTEN.replace("#   enabled: true\n", ""), 3, "custom.enabled"),
        (HANDWRITTEN.replace("# title: Probe\n", ""), 2, "METADATA title"),
        (
            HANDWRITTEN.replace("probe_policy", "other_name"),
            8,
            "package must be greenlang.policies.probe_policy",
        ),
        ("package greenlang.policies.probe_policy\n", 1, "needs a METADATA annotation"),
        (HANDWRITTEN.replace("#   type: compliance", "#   type: [oops"), 6, "invalid YAML"),
    ],
)
def test_handwritten_metadata_errors(tmp_path: Path, text: str, line: int, reason: str) -> None:
    policies = tmp_path / "greenlang" / "policies"
    policies.mkdir(parents=True)
    module = policies / "probe_policy.rego"
    module.write_text(text)
    with pytest.raises(PolicyError) as info:
        compile_policies([], rego_dir=tmp_path)
    (problem,) = info.value.problems
    assert problem.file == str(module)
    assert problem.line == line, problem
    assert reason in problem.reason, problem


def test_handwritten_metadata_read(tmp_path: Path) -> None:
    policies = tmp_path / "greenlang" / "policies"
    policies.mkdir(parents=True)
    (policies / "probe_policy.rego").write_text(HANDWRITTEN)
    (policies / "probe_policy_test.rego").write_text("package not.read\n")
    compiled = compile_policies([], rego_dir=tmp_path)
    assert compiled.metadata()["probe_policy"]["policy_id"] == "probe-policy"
    assert compiled.index()[compiled.metadata()["probe_policy"]["type"]] == [
        ["probe_policy", "probe-policy"]
    ]
    assert list(compiled.files()) == [
        COMPILED_MARKER,
        str(POLICY_INDEX_FILE),
        str(POLICY_META_FILE),
    ]


def test_stock_policies_compile() -> None:
    compiled = compile_policies([STOCK_POLICY_DIR])
    kinds = {p.meta.policy_id: p.kind for p in compiled.policies}
    assert kinds["pol-001-certification-required"] == "yaml"
    assert kinds["rbac-access-control"] == "rego"
    assert {p.meta.type.value for p in compiled.policies} == {
        "access_control",
        "rate_limiting",
        "compliance",
        "deployment",
        "data_access",
        "retention",
    }


@pytest.mark.parametrize("kind", ["access_control", "compliance", "rate_limiting"])
def test_per_call_measurements_only_in_rate_policies(kind: str, tmp_path: Path) -> None:
    text = textwrap.dedent(
        f"""\
        policy_id: pol-usage
        type: {kind}
        name: Usage
        description: reads the token usage
        rules:
          - condition: {{field: usage.total_tokens, operator: gt, value: 10}}
            requirement: {{field: user.roles, operator: contains, value: admin}}
        enforcement: deny
        enabled: true
        """
    )
    path = write(tmp_path, "usage.yaml", text)
    if kind == "rate_limiting":
        assert compile_policies([path], rego_dir=None).metadata()
        return
    with pytest.raises(PolicyError) as caught:
        compile_policies([path], rego_dir=None)
    assert "usage.* is measured per call" in str(caught.value)
