"""`opa test rego/ policy-tests/ <compiled> bundles/data/` with the real OPA binary."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bundles.errors import PolicyError
from bundles.layout import STOCK_POLICY_DIR
from bundles.testing import opa_test_command, run_opa_test
from tests.support.servers import find_binary


def test_stock_policies_pass_their_tests(tmp_path: Path) -> None:
    result = run_opa_test(STOCK_POLICY_DIR, tmp_path / "out", opa=find_binary("opa"))
    assert result.passed, result.stdout + result.stderr
    assert "PASS:" in result.stdout and "FAIL" not in result.stdout
    assert result.command[1] == "test"
    assert result.command[-3:] == tuple(opa_test_command(tmp_path / "out", opa="opa")[-3:])


def test_a_changed_policy_fails_its_tests(tmp_path: Path) -> None:
    """The tests pin the policies down: loosen one and `opa test` fails."""
    policies = tmp_path / "policies"
    shutil.copytree(STOCK_POLICY_DIR, policies)
    appendix_b = policies / "certification-required.yaml"
    appendix_b.write_text(appendix_b.read_text().replace("value: production", "value: prod"))
    result = run_opa_test(policies, tmp_path / "out", opa=find_binary("opa"))
    assert not result.passed
    assert "test_production_uncertified_denied: FAIL" in result.stdout


def test_invalid_policies_are_not_tested(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "bad.yaml").write_text("policy_id: x\n")
    with pytest.raises(PolicyError):
        run_opa_test(policies, tmp_path / "out", opa=find_binary("opa"))
    assert not (tmp_path / "out").exists()
