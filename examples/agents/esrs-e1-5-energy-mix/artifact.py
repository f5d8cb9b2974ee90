"""ESRS E1-5 energy consumption and mix, plus energy intensity per net revenue."""

FOSSIL = {"coal", "crude_oil", "natural_gas", "other_fossil", "purchased_fossil"}
NUCLEAR = {"nuclear", "purchased_nuclear"}
RENEWABLE = {"biomass", "renewable_fuels", "purchased_renewable", "self_generated_renewable"}


def run(inputs: dict) -> dict:
    """inputs: {"consumption_mwh": {source: MWh}, "net_revenue_eur",
    "high_climate_impact_revenue_eur"?}"""
    consumption = {k: float(v) for k, v in inputs["consumption_mwh"].items()}
    unknown = set(consumption) - FOSSIL - NUCLEAR - RENEWABLE
    if unknown:
        raise ValueError(f"unknown energy sources: {sorted(unknown)}")
    fossil = sum(v for k, v in consumption.items() if k in FOSSIL)
    nuclear = sum(v for k, v in consumption.items() if k in NUCLEAR)
    renewable = sum(v for k, v in consumption.items() if k in RENEWABLE)
    total = fossil + nuclear + renewable
    share = (lambda x: round(100 * x / total, 2) if total else 0.0)
    result = {
        "total_mwh": round(total, 1),
        "fossil_mwh": round(fossil, 1), "fossil_pct": share(fossil),
        "nuclear_mwh": round(nuclear, 1), "nuclear_pct": share(nuclear),
        "renewable_mwh": round(renewable, 1), "renewable_pct": share(renewable),
    }
    hci_revenue = inputs.get("high_climate_impact_revenue_eur")
    if hci_revenue:
        result["intensity_mwh_per_meur_hcis"] = round(total / (float(hci_revenue) / 1e6), 3)
    return result
