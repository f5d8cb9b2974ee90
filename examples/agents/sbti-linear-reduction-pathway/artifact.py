"""SBTi absolute contraction pathway: linear annual reduction from base year to target year."""

RATES = {"1.5C": 0.042, "WB2C": 0.025}


def pathway(base_year: int, base_emissions: float, target_year: int, rate: float) -> dict:
    return {
        year: round(base_emissions * max(0.0, 1 - rate * (year - base_year)), 1)
        for year in range(base_year, target_year + 1)
    }


def run(inputs: dict) -> dict:
    """inputs: {"base_year", "base_emissions_tco2e", "target_year", "ambition": "1.5C",
    "actuals": {year: tCO2e}}"""
    base_year, target_year = int(inputs["base_year"]), int(inputs["target_year"])
    base = float(inputs["base_emissions_tco2e"])
    rate = RATES[inputs.get("ambition", "1.5C")]
    path = pathway(base_year, base, target_year, rate)
    gaps = {}
    for year, actual in inputs.get("actuals", {}).items():
        year = int(year)
        if year in path:
            gaps[year] = round(float(actual) - path[year], 1)
    latest = max(gaps) if gaps else None
    return {
        "annual_rate": rate,
        "target_emissions_tco2e": path[target_year],
        "target_reduction_pct": round(100 * rate * (target_year - base_year), 1),
        "pathway": path,
        "gap_vs_pathway_tco2e": gaps,
        "on_track": gaps[latest] <= 0 if latest is not None else None,
    }
