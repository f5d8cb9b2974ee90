"""Reading a decision's obligations: stock defaults for what is missing, refusal (fail closed)
for anything the sidecar cannot enforce as written."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.obligations import ObligationError, from_decision, stock


def test_stock_defaults_mask_email_and_iban() -> None:
    base = stock()
    assert [name for name, _ in base.mask_pairs] == ["email", "iban"]
    assert base.timeout_s > 0 and base.max_request_bytes > 0 and base.max_tokens is None
    assert from_decision({"decision": "allow"}) == base  # an older bundle: no obligations


def test_values_are_taken_and_missing_keys_take_stock_defaults() -> None:
    got = from_decision(
        {
            "obligations": {
                "timeout_s": 2.5,
                "max_request_bytes": 10,
                "max_tokens": 7,
                "mask": [{"name": "vat", "pattern": "DE[0-9]{9}"}],
            }
        }
    )
    assert got.timeout_s == 2.5 and got.max_request_bytes == 10 and got.max_tokens == 7
    assert got.max_response_bytes == stock().max_response_bytes
    assert got.mask_pairs == (("vat", "DE[0-9]{9}"),)
    assert from_decision({"obligations": {"mask": []}}).mask == ()  # masking turned off
    assert from_decision({"obligations": {"max_tokens": None}}).max_tokens is None


@pytest.mark.parametrize(
    ("obligations", "reason"),
    [
        ({"timeout_s": 0}, "obligations.timeout_s: a number of seconds, more than 0"),
        ({"timeout_s": "30"}, "obligations.timeout_s: a number of seconds"),
        ({"max_response_bytes": "lots"}, "obligations.max_response_bytes: a whole number"),
        ({"max_request_bytes": 1.5}, "obligations.max_request_bytes: a whole number"),
        ({"max_tokens": True}, "obligations.max_tokens: null or a whole number of tokens"),
        ({"max_tokens": -1}, "obligations.max_tokens: null or a whole number of tokens"),
        ({"limit": 1}, "obligations.limit: unknown key (timeout_s, max_request_bytes"),
        ({"mask": [{"name": "ssn", "pattern": None}]}, "expression for mask 'ssn'"),
        ({"mask": [{"name": "ssn"}]}, "obligations.mask[0].pattern: missing"),
        ({"mask": [{"name": "x", "pattern": "("}]}, "not a Python regular expression"),
        ({"mask": [{"name": "x", "pattern": "a*"}]}, "matches the empty string for mask 'x'"),
        ({"mask": ["email"]}, "obligations.mask[0]: not an object"),
        ({"mask": "email"}, "obligations.mask: "),
        ({"mask": None}, "obligations.mask: "),
    ],
)
def test_what_cannot_be_enforced_is_refused(obligations: dict[str, Any], reason: str) -> None:
    with pytest.raises(ObligationError) as caught:
        from_decision({"obligations": obligations})
    assert reason in str(caught.value)


def test_obligations_that_are_not_an_object_are_refused() -> None:
    with pytest.raises(ObligationError, match="obligations: not an object"):
        from_decision({"obligations": ["email"]})
