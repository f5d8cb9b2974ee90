"""Completeness check of ESRS E1 (Climate change) disclosure datapoints."""

E1_DATAPOINTS = {
    "E1-1": ["transition_plan_compatible_1_5c", "decarbonisation_levers", "locked_in_emissions"],
    "E1-2": ["climate_policies"],
    "E1-3": ["climate_actions", "capex_for_actions", "opex_for_actions"],
    "E1-4": ["ghg_reduction_targets", "target_base_year", "target_values"],
    "E1-5": ["total_energy_consumption_mwh", "renewable_share", "energy_intensity"],
    "E1-6": ["scope1_gross", "scope2_location", "scope2_market", "scope3_gross", "ghg_intensity"],
    "E1-7": ["removals_tco2", "carbon_credits_cancelled"],
    "E1-8": ["internal_carbon_price"],
    "E1-9": ["assets_at_physical_risk", "assets_at_transition_risk"],
}
# E1-7 and E1-8 only when applicable; others are mandatory once E1 is material.
CONDITIONAL = {"E1-7", "E1-8"}


def run(inputs: dict) -> dict:
    reported = inputs.get("datapoints", {})
    applicable = set(inputs.get("applicable_conditional", []))
    missing, total, present = {}, 0, 0
    for disclosure, points in E1_DATAPOINTS.items():
        if disclosure in CONDITIONAL and disclosure not in applicable:
            continue
        gaps = [p for p in points if reported.get(p) in (None, "", [])]
        total += len(points)
        present += len(points) - len(gaps)
        if gaps:
            missing[disclosure] = gaps
    return {
        "completeness_pct": round(100 * present / total, 1) if total else 100.0,
        "missing": missing,
        "complete": not missing,
    }
