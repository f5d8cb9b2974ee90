"""Map a corporate GHG inventory to CDP climate change questionnaire (module 7) answers."""

SCOPE3_NAMES = {
    1: "Purchased goods and services", 2: "Capital goods", 3: "Fuel- and energy-related activities",
    4: "Upstream transportation and distribution", 5: "Waste generated in operations",
    6: "Business travel", 7: "Employee commuting", 8: "Upstream leased assets",
    9: "Downstream transportation and distribution", 10: "Processing of sold products",
    11: "Use of sold products", 12: "End of life treatment of sold products",
    13: "Downstream leased assets", 14: "Franchises", 15: "Investments",
}


def run(inputs: dict) -> dict:
    inv = inputs["inventory"]
    answers = {
        "7.6": {"gross_global_scope1_tco2e": inv["scope1"]},
        "7.7": {"scope2_location_tco2e": inv["scope2_location"],
                "scope2_market_tco2e": inv["scope2_market"]},
        "7.8": [],
    }
    for cat, name in SCOPE3_NAMES.items():
        value = inv.get("scope3", {}).get(str(cat))
        answers["7.8"].append({
            "category": name,
            "evaluation_status": "Relevant, calculated" if value else "Not evaluated",
            "emissions_tco2e": value,
        })
    evaluated = sum(1 for row in answers["7.8"] if row["emissions_tco2e"])
    return {"answers": answers, "scope3_categories_evaluated": evaluated}
