"""SFDR principal adverse impact indicators 1-3 (Delegated Reg. 2022/1288, Annex I Table 1).

PAI 1 GHG emissions, PAI 2 carbon footprint (per EUR M invested), PAI 3 GHG intensity of
investee companies (weighted average, per EUR M revenue).
"""


def run(inputs: dict) -> dict:
    """inputs: {"nav_eur", "investments": [{value_eur, evic_eur, revenue_eur, scope1, scope2,
    scope3}]}"""
    invs = inputs.get("investments", [])
    nav = float(inputs["nav_eur"])
    pai1 = {"scope1": 0.0, "scope2": 0.0, "scope3": 0.0}
    pai3 = 0.0
    for i in invs:
        af = float(i["value_eur"]) / float(i["evic_eur"])
        for scope in pai1:
            pai1[scope] += af * float(i.get(scope, 0.0))
        company_total = sum(float(i.get(s, 0.0)) for s in pai1)
        pai3 += float(i["value_eur"]) / nav * company_total / (float(i["revenue_eur"]) / 1e6)
    total = sum(pai1.values())
    covered = sum(float(i["value_eur"]) for i in invs)
    return {
        "pai1_ghg_emissions_tco2e": {k: round(v, 1) for k, v in pai1.items()} | {"total": round(total, 1)},
        "pai2_carbon_footprint_tco2e_per_meur": round(total / (covered / 1e6), 2) if covered else None,
        "pai3_ghg_intensity_tco2e_per_meur_revenue": round(pai3, 2),
        "coverage_pct_of_nav": round(100 * covered / nav, 1),
    }
