"""Agent spec parsing, without servers."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.catalog.spec import SpecError, parse_spec

GOOD = {
    "agent_id": "gl-cbam-calculator",
    "name": "CBAM Calculator",
    "version": "2.0.0-rc.1+build.5",
    "description": "Embedded emissions.",
    "type": "calculator",
    "metadata": {
        "team": "cbam-team",
        "regulatory_scope": ["CBAM"],
        "tags": ["cbam"],
        "changelog": "x",
    },
}


def test_good_spec_and_stable_hash() -> None:
    spec = parse_spec(yaml.safe_dump(GOOD))
    assert spec.version == "2.0.0-rc.1+build.5"
    reformatted = parse_spec(yaml.safe_dump(GOOD, default_flow_style=True, sort_keys=False))
    assert spec.spec_hash() == reformatted.spec_hash()
    changed = parse_spec(yaml.safe_dump({**GOOD, "name": "Other"}))
    assert changed.spec_hash() != spec.spec_hash()


def test_a_runtime_section_is_optional_and_absent_from_the_document() -> None:
    plain = parse_spec(yaml.safe_dump(GOOD))
    assert plain.runtime is None and "runtime" not in plain.model_dump(mode="json")
    runtime = {"command": ["python3", "{artifact}", "--port", "{port}"]}
    spec = parse_spec(yaml.safe_dump({**GOOD, "runtime": runtime}))
    assert spec.runtime is not None and spec.runtime.health_path == "/healthz"
    assert spec.spec_hash() != plain.spec_hash()


def test_optional_metadata_lists_default_empty() -> None:
    doc = {**GOOD, "metadata": {"team": "cbam-team"}}
    spec = parse_spec(yaml.safe_dump(doc))
    assert spec.metadata.tags == [] and spec.metadata.changelog == ""


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({**GOOD, "extra": 1}, "extra"),
        ({k: v for k, v in GOOD.items() if k != "type"}, "type"),
        ({**GOOD, "version": "2"}, "version"),
        ({**GOOD, "agent_id": "x"}, "agent_id"),
        ({**GOOD, "metadata": {**GOOD["metadata"], "team": "Team A"}}, "metadata.team"),
        ({**GOOD, "metadata": {**GOOD["metadata"], "tags": ["ok", ""]}}, "metadata.tags"),
        ({**GOOD, "name": ""}, "name"),
        ({**GOOD, "runtime": {"command": ["serve"]}}, "runtime.command"),
        ({**GOOD, "runtime": {"command": []}}, "runtime.command"),
        (
            {**GOOD, "runtime": {"command": ["s", "{port}"], "health_path": "up"}},
            "runtime.health_path",
        ),
        ({**GOOD, "runtime": {"command": ["s", "{port}"], "image": "x"}}, "runtime.image"),
    ],
)
def test_errors_name_the_field(doc: dict, field: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(yaml.safe_dump(doc))
    assert field in [e["field"] for e in info.value.errors]


def test_aliases_are_refused() -> None:
    text = "x: &a [1]\ny: *a\n"
    with pytest.raises(SpecError, match="anchors are not allowed"):
        parse_spec(text)


def test_duplicate_keys_are_refused() -> None:
    text = yaml.safe_dump(GOOD) + "name: Second name\n"
    with pytest.raises(SpecError, match="duplicate key 'name'"):
        parse_spec(text)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_any_input_is_a_spec_or_a_spec_error(text: str | bytes) -> None:
    try:
        parse_spec(text)
    except SpecError as exc:
        assert exc.errors and all(e["field"] for e in exc.errors)
