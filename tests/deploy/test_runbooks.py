"""Every alert carries severity, summary, description and a runbook_url whose anchor is a
heading of docs/runbooks.md; every runbook section belongs to an alert."""

from __future__ import annotations

import re

from tests.deploy.alerting_tools import RUNBOOKS, alert_rules

PREFIX = "docs/runbooks.md#"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, - for spaces."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def runbook_anchors() -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    return {github_anchor(h) for h in headings}


def test_every_alert_has_labels_annotations_and_a_runbook_section() -> None:
    anchors = runbook_anchors()
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        url = annotations["runbook_url"]
        assert url.startswith(PREFIX), f"{name}: {url}"
        assert url.removeprefix(PREFIX) in anchors, f"{name}: no section for {url}"


def test_every_runbook_section_names_an_alert() -> None:
    alerts = {rule["alert"] for rule in alert_rules()}
    sections = re.findall(r"^## (.+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    assert set(sections) == alerts
