"""Scope 2 dual reporting (GHG Protocol Scope 2 Guidance): location- and market-based.

Market-based applies contractual instruments (EACs, PPAs, supplier-specific rates) in the
hierarchy order and the residual mix to uncovered consumption.
"""

GRID_AVERAGE = {"DE": 0.380, "FR": 0.056, "PL": 0.662, "US-CAMX": 0.198, "IN": 0.713}  # t/MWh
RESIDUAL_MIX = {"DE": 0.724, "FR": 0.043, "PL": 0.806, "US-CAMX": 0.265, "IN": 0.713}


def site_emissions(site: dict) -> dict:
    mwh, region = float(site["mwh"]), site["grid_region"]
    location = mwh * GRID_AVERAGE[region]
    remaining, market = mwh, 0.0
    for instrument in site.get("instruments", []):  # ordered: PPA, supplier rate, EAC
        covered = min(remaining, float(instrument["mwh"]))
        market += covered * float(instrument.get("ef_t_per_mwh", 0.0))
        remaining -= covered
    market += remaining * RESIDUAL_MIX[region]
    return {"site": site["site"], "location_tco2e": round(location, 3),
            "market_tco2e": round(market, 3), "uncovered_mwh": round(remaining, 3)}


def run(inputs: dict) -> dict:
    sites = [site_emissions(s) for s in inputs.get("sites", [])]
    total_mwh = sum(float(s["mwh"]) for s in inputs.get("sites", []))
    uncovered = sum(s["uncovered_mwh"] for s in sites)
    return {
        "sites": sites,
        "scope2_location_tco2e": round(sum(s["location_tco2e"] for s in sites), 3),
        "scope2_market_tco2e": round(sum(s["market_tco2e"] for s in sites), 3),
        "contractual_coverage_pct": round(100 * (1 - uncovered / total_mwh), 1) if total_mwh else 0.0,
    }
