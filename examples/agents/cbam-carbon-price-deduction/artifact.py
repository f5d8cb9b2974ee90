"""Carbon price effectively paid in the country of origin, deductible under CBAM Art. 9.

Deduction = (price paid - rebates/free allocation) converted to EUR at the yearly average rate,
capped at the CBAM certificate obligation for the same goods.
"""

FX_TO_EUR = {"EUR": 1.0, "GBP": 1.17, "CNY": 0.128, "KRW": 0.00068, "CHF": 1.04, "USD": 0.92}


def run(inputs: dict) -> dict:
    """inputs: {"currency", "price_per_tco2e", "covered_tco2e", "rebate_share",
    "free_allocation_tco2e", "cbam_obligation_eur"}"""
    currency = inputs["currency"].upper()
    if currency not in FX_TO_EUR:
        raise ValueError(f"no exchange rate for {currency}")
    covered = float(inputs["covered_tco2e"])
    free = float(inputs.get("free_allocation_tco2e", 0.0))
    effective_t = max(0.0, covered - free)
    paid_local = effective_t * float(inputs["price_per_tco2e"])
    paid_local *= 1 - float(inputs.get("rebate_share", 0.0))
    paid_eur = paid_local * FX_TO_EUR[currency]
    cap = float(inputs.get("cbam_obligation_eur", paid_eur))
    return {
        "effective_priced_tco2e": round(effective_t, 3),
        "carbon_price_paid_eur": round(paid_eur, 2),
        "deductible_eur": round(min(paid_eur, cap), 2),
        "capped": paid_eur > cap,
    }
