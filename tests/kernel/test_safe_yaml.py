"""The loader for untrusted YAML: plain data loads, bombs and ambiguous mappings do not."""

from __future__ import annotations

import pytest
import yaml

from kernel.safe_yaml import NoAliasLoader


def load(text: str) -> object:
    return yaml.load(text, Loader=NoAliasLoader)


def test_plain_data_loads() -> None:
    assert load("a: 1\nb: [x, {c: null}]\n") == {"a": 1, "b": ["x", {"c": None}]}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a: &x [1, 2]\nb: *x\n", "anchors are not allowed (line 1)"),
        ("a: 1\nb: *x\n", "aliases are not allowed (line 2)"),
        ("a: 1\nb: 2\na: 3\n", "duplicate key 'a' (line 3)"),
        ("? [1, 2]\n: x\n", "mapping keys must be scalars"),
        ("a: !!python/object:os.system x\n", "could not determine a constructor"),
    ],
)
def test_refused(text: str, reason: str) -> None:
    with pytest.raises(yaml.YAMLError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        load(text)
