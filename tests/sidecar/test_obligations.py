"""Reading a decision's obligations: stock defaults for what is missing, refusal for a mask the
sidecar cannot apply."""

from __future__ import annotations

import pytest

from sidecar.obligations import ObligationError, from_decision, stock


def test_stock_defaults_mask_email_and_iban() -> None:
    base = stock()
    assert [name for name, _ in base.mask] == ["email", "iban"]
    assert base.timeout_s > 0 and base.max_request_bytes > 0 and base.max_tokens is None
    assert from_decision({"decision": "allow"}) == base  # an older bundle: no obligations


def test_values_are_taken_and_malformed_limits_fall_back() -> None:
    got = from_decision(
        {
            "obligations": {
                "timeout_s": 2.5,
                "max_request_bytes": 10,
                "max_response_bytes": "lots",
                "max_tokens": 7,
                "mask": [{"name": "vat", "pattern": "DE[0-9]{9}"}],
            }
        }
    )
    assert got.timeout_s == 2.5 and got.max_request_bytes == 10 and got.max_tokens == 7
    assert got.max_response_bytes == stock().max_response_bytes
    assert got.mask == (("vat", "DE[0-9]{9}"),)
    assert (
        from_decision({"obligations": {"timeout_s": 0, "mask": []}}).timeout_s == stock().timeout_s
    )
    assert from_decision({"obligations": {"mask": []}}).mask == ()  # masking turned off


@pytest.mark.parametrize(
    "mask",
    [[{"name": "ssn", "pattern": None}], [{"name": "ssn"}], ["email"], "email", None],
)
def test_a_mask_that_cannot_be_applied_is_refused(mask: object) -> None:
    with pytest.raises(ObligationError):
        from_decision({"obligations": {"mask": mask}})
