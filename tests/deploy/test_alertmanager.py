"""deploy/alertmanager checked by the real amtool: the config loads, each severity reaches its
PagerDuty receiver, grouping is per alert and agent, and the registry-down inhibition covers
every per-agent alert (checked on the config: amtool cannot evaluate inhibitions)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.deploy.alerting_tools import ALERT_TESTS, ALERTMANAGER_CONFIG, alert_rules, run


def routes_test(*labels: str) -> str:
    result = run(
        "amtool", "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_amtool_check_config_passes() -> None:
    result = run("amtool", "check-config", ALERTMANAGER_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("severity", "receiver"),
    [("critical", "pagerduty-critical"), ("warning", "pagerduty-warning")],
)
def test_each_severity_routes_to_its_pagerduty_receiver(severity: str, receiver: str) -> None:
    for rule in alert_rules():
        if rule["labels"]["severity"] == severity:
            labels = [f"alertname={rule['alert']}", f"severity={severity}", "agent_id=cbam"]
            assert routes_test(*labels) == receiver, rule["alert"]


def test_an_alert_without_severity_still_reaches_someone() -> None:
    assert routes_test("alertname=Unknown") == "pagerduty-warning"


def test_amtool_sees_a_wrong_receiver() -> None:
    result = run(
        "amtool",
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        "--verify.receivers=pagerduty-warning",
        "severity=critical",
    )
    assert result.returncode != 0


def test_grouping_is_per_alert_and_agent() -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    assert set(config["route"]["group_by"]) == {"alertname", "agent_id"}


def expected_alert_labels() -> list[dict[str, str]]:
    """The label sets of every alert the promtool unit tests expect (alertname included)."""
    out = []
    for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            for alert in case.get("exp_alerts") or []:
                labels = {k: str(v) for k, v in alert["exp_labels"].items()}
                out.append({"alertname": case["alertname"], **labels})
    return out


def matches(matcher: str, labels: dict[str, str]) -> bool:
    """One Alertmanager matcher (`name="v"`, `name=~"re"`) against a label set."""
    found = re.fullmatch(r'(\w+)(=~|=)"(.*)"', matcher)
    assert found, matcher
    name, op, value = found.groups()
    actual = labels.get(name, "")
    return actual == value if op == "=" else re.fullmatch(value, actual) is not None


def test_registry_down_inhibits_every_per_agent_alert_but_not_itself() -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    (rule,) = [
        r
        for r in config["inhibit_rules"]
        if r["source_matchers"] == ['alertname="GreenLangRegistryDown"']
    ]
    assert not rule.get("equal")  # a registry outage holds back every agent's alerts
    alerts = expected_alert_labels()
    inhibited = {
        a["alertname"] for a in alerts if all(matches(m, a) for m in rule["target_matchers"])
    }
    per_agent = {a["alertname"] for a in alerts if a.get("agent_id")}
    assert inhibited == per_agent
    assert {"GreenLangSLOBurnRateCritical", "GreenLangCanaryRolledBack"} <= inhibited
    assert "GreenLangRegistryDown" not in inhibited
    registry_down = [a for a in alerts if a["alertname"] == "GreenLangRegistryDown"]
    sources = rule["source_matchers"]
    assert registry_down and all(matches(m, a) for a in registry_down for m in sources)
