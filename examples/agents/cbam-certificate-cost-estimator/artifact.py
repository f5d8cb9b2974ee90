"""Estimate CBAM certificates to surrender and their cost for a declaration year.

certificates = embedded emissions x CBAM factor - carbon price deduction (in tCO2e)
The CBAM factor reflects the phase-out of EU ETS free allocation (Art. 31 CBAM Regulation).

Observability through the agent SDK: the factor comes from a tool (``execute_tool
cbam_factor_schedule``) whose answers per year are cached in process; each call reports a cache
hit or miss.
"""

from agent_sdk.observability import current

# Share of embedded emissions subject to CBAM = 1 - remaining free-allocation share.
CBAM_FACTOR = {2026: 0.025, 2027: 0.05, 2028: 0.10, 2029: 0.225, 2030: 0.485,
               2031: 0.61, 2032: 0.735, 2033: 0.86, 2034: 1.0}


def cbam_factor(year: int) -> float:
    if year < 2026:
        return 0.0
    return CBAM_FACTOR.get(year, 1.0)


_factors: dict[int, float] = {}


def factor_for(year: int) -> float:
    """The schedule lookup, cached per year (bounded: one entry per year asked)."""
    obs = current()
    if year in _factors:
        obs.cache(hit=True)
        return _factors[year]
    obs.cache(hit=False)
    with obs.tool_call("cbam_factor_schedule"):
        factor = cbam_factor(year)
    if len(_factors) >= 256:
        _factors.clear()
    _factors[year] = factor
    return factor


def run(inputs: dict) -> dict:
    year = int(inputs["year"])
    emissions = float(inputs["embedded_emissions_tco2e"])
    ets_price = float(inputs.get("ets_price_eur", 70.0))
    foreign_price_paid_eur = float(inputs.get("carbon_price_paid_eur", 0.0))

    factor = factor_for(year)
    liable = emissions * factor
    deduction_t = foreign_price_paid_eur / ets_price if ets_price > 0 else 0.0
    certificates = max(0.0, liable - deduction_t)
    return {
        "year": year,
        "cbam_factor": factor,
        "liable_tco2e": round(liable, 3),
        "deduction_tco2e": round(deduction_t, 3),
        "certificates": round(certificates, 3),
        "estimated_cost_eur": round(certificates * ets_price, 2),
    }
