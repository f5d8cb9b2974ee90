"""deploy/prometheus checked by the real promtool: the scrape config, the rule files, and the
unit tests that show every alert firing and not firing; a changed threshold fails them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.deploy.alerting_tools import (
    ALERT_TESTS,
    ALERTS,
    PROMETHEUS_DIR,
    RECORDING,
    alert_rules,
    run,
)

SCRAPE_JOBS = {"greenlang-registry", "greenlang-sidecars", "greenlang-agents", "opa"}


def test_promtool_check_config_passes() -> None:
    result = run("promtool", "check", "config", PROMETHEUS_DIR / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_scrape_jobs_are_the_contract_names() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert {job["job_name"] for job in config["scrape_configs"]} == SCRAPE_JOBS
    assert config["rule_files"] == ["rules/recording.yml", "rules/alerts.yml"]


FILE_SD = [("greenlang-sidecars", "sidecars"), ("greenlang-agents", "agents")]


@pytest.mark.parametrize(("job", "kind"), FILE_SD)
def test_example_target_files_are_discovered(tmp_path: Path, job: str, kind: str) -> None:
    """An operator copies targets/<kind>.json.example to <kind>.json: file_sd picks it up."""
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, copy)
    targets = copy / "targets"
    (targets / f"{kind}.json").write_text((targets / f"{kind}.json.example").read_text())
    check = ("check", "service-discovery", "--timeout=5s", "prometheus.yml", job)
    result = run("promtool", *check, cwd=copy)
    assert result.returncode == 0, result.stdout + result.stderr
    discovered = json.loads(result.stdout)
    assert discovered and all(t["labels"]["job"] == job for t in discovered)
    assert all(t["labels"]["instance"] for t in discovered)


def test_promtool_check_rules_passes() -> None:
    result = run("promtool", "check", "rules", RECORDING, ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = run("promtool", "test", "rules", ALERT_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_at_least_ten_alerts_each_tested_firing_and_not() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) >= 10 and len(set(names)) == len(names)
    cases = [
        case
        for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    silent = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert set(names) - fired == set(), "alerts never shown firing"
    assert set(names) - silent == set(), "alerts never shown not firing"


# (alert, threshold in its expr, changed threshold): with the change, a series the unit tests
# expect to fire no longer does (or one expected quiet fires), so `promtool test rules` fails.
CHANGES = [
    ("GreenLangAgentLatencyP99High", "p99_5m > 5", "p99_5m > 15"),
    ("GreenLangCertificateExpiringSoon", "} < 30", "} < 14"),
    ("GreenLangGovernanceViolationRateHigh", "ratio_rate15m > 0.001", "ratio_rate15m > 0.02"),
]


@pytest.mark.parametrize(("alert", "old", "new"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_changed_threshold_fails_the_unit_tests(
    tmp_path: Path, alert: str, old: str, new: str
) -> None:
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, copy)
    rules = copy / "rules" / "alerts.yml"
    text = rules.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in alerts.yml"
    rules.write_text(text.replace(old, new))
    assert run("promtool", "check", "rules", rules).returncode == 0  # still a valid rule file

    result = run("promtool", "test", "rules", copy / "tests" / "alerts_test.yml")
    assert result.returncode != 0
    assert alert in result.stdout + result.stderr
