"""Transition-risk stress test: EBITDA impact of carbon prices under NGFS-style scenarios."""

# USD (2010) per tCO2e, rounded NGFS Phase IV paths.
SCENARIOS = {
    "net_zero_2050": {2025: 95, 2030: 150, 2040: 300, 2050: 460},
    "delayed_transition": {2025: 10, 2030: 110, 2040: 250, 2050: 420},
    "current_policies": {2025: 15, 2030: 20, 2040: 25, 2050: 30},
}


def price(scenario: str, year: int) -> float:
    path = SCENARIOS[scenario]
    years = sorted(path)
    if year <= years[0]:
        return path[years[0]]
    for a, b in zip(years, years[1:]):
        if a <= year <= b:
            return path[a] + (path[b] - path[a]) * (year - a) / (b - a)
    return path[years[-1]]


def run(inputs: dict) -> dict:
    """inputs: {"emissions_tco2e", "annual_reduction": 0.04, "base_year", "ebitda",
    "pass_through": 0.3, "free_allocation_share": 0.0, "years": [2030, 2040]}"""
    base_year = int(inputs["base_year"])
    results = {}
    for scenario in SCENARIOS:
        for year in inputs.get("years", [2030, 2040, 2050]):
            emissions = float(inputs["emissions_tco2e"]) * (1 - float(inputs.get("annual_reduction", 0.0))) ** (year - base_year)
            exposed = emissions * (1 - float(inputs.get("free_allocation_share", 0.0)))
            cost = exposed * price(scenario, year) * (1 - float(inputs.get("pass_through", 0.0)))
            results.setdefault(scenario, {})[year] = {
                "carbon_cost": round(cost), "ebitda_at_risk_pct": round(100 * cost / float(inputs["ebitda"]), 2)}
    return {"scenarios": results}
