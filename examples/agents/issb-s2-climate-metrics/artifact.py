"""IFRS S2 paragraph 29 cross-industry climate metrics, with completeness flags."""

REQUIRED = {
    "ghg_scope1_tco2e": "29(a)(i)", "ghg_scope2_location_tco2e": "29(a)(v)",
    "ghg_scope3_tco2e": "29(a)(vi)", "assets_transition_risk_amount": "29(b)",
    "assets_physical_risk_amount": "29(c)", "assets_climate_opportunities_amount": "29(d)",
    "capital_deployment_amount": "29(e)", "internal_carbon_price": "29(f)",
    "remuneration_linked_pct": "29(g)",
}


def run(inputs: dict) -> dict:
    data = inputs.get("metrics", {})
    total_assets = float(inputs.get("total_assets", 0.0))
    metrics, missing = {}, []
    for key, para in REQUIRED.items():
        value = data.get(key)
        if value is None:
            missing.append(para)
            continue
        metrics[key] = {"paragraph": para, "value": value}
        if key.startswith("assets_") and total_assets:
            metrics[key]["share_of_total_assets_pct"] = round(100 * float(value) / total_assets, 2)
    relief = inputs.get("first_annual_period", False)
    if relief and "29(a)(vi)" in missing:
        missing.remove("29(a)(vi)")  # transition relief: scope 3 not required in year one
    return {"metrics": metrics, "missing_paragraphs": missing, "complete": not missing,
            "scope3_relief_applied": relief}
