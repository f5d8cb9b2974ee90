"""Registry ids mapped to Kubernetes names and label values: valid, stable, never colliding."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.deployments.k8s_names import MAX_LENGTH, is_object_name, label_value, object_name

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def test_a_valid_name_is_kept() -> None:
    assert object_name("grid-intensity-monitor-dep-1") == "grid-intensity-monitor-dep-1"


def test_a_semver_is_a_label_value_as_it_is() -> None:
    assert label_value("1.2.0") == "1.2.0"


@pytest.mark.parametrize(
    "text",
    [
        "1.2.0",
        "9agent",
        "Agent_X",
        "a" * 64,
        "grid-intensity-monitor-" + "0" * 60,
        "-x-",
        "1.2.0+b.7",
    ],
)
def test_changed_names_are_valid_dns_1035_labels(text: str) -> None:
    name = object_name(text)
    assert is_object_name(name), name
    assert name != text


def test_build_metadata_is_mapped_into_a_label_value() -> None:
    value = label_value("1.2.0+build.7")
    assert LABEL_VALUE.match(value) and value.startswith("1.2.0-build.7-")


def test_lossy_mappings_do_not_collide() -> None:
    assert object_name("Dep_1") != object_name("dep-1")
    assert object_name("x" * 70) != object_name("x" * 71)
    assert label_value("1.0.0+a") != label_value("1.0.0-a")


@given(st.text(min_size=1, max_size=120))
def test_any_text_maps_to_valid_names(text: str) -> None:
    name, value = object_name(text), label_value(text)
    assert is_object_name(name), name
    assert len(value) <= MAX_LENGTH and LABEL_VALUE.match(value), value
    assert object_name(text) == name  # deterministic: apply finds the same objects again
