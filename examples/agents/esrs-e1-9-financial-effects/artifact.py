"""Estimate ESRS E1-9 anticipated financial effects from material physical risks.

Assets at material physical risk = carrying amount of assets in locations whose hazard score
exceeds the threshold; expected annual loss uses a damage ratio per hazard level.
"""

DAMAGE_RATIO = {1: 0.0, 2: 0.002, 3: 0.01, 4: 0.035, 5: 0.08}  # share of value lost per year


def run(inputs: dict) -> dict:
    """inputs: {"assets": [{id, carrying_amount_eur, hazard_level (1-5), hazard}],
    "material_level": 4, "total_assets_eur"}"""
    threshold = int(inputs.get("material_level", 4))
    at_risk, expected_loss = 0.0, 0.0
    by_hazard = {}
    for a in inputs.get("assets", []):
        level = int(a["hazard_level"])
        value = float(a["carrying_amount_eur"])
        expected_loss += value * DAMAGE_RATIO[level]
        if level >= threshold:
            at_risk += value
            by_hazard[a["hazard"]] = by_hazard.get(a["hazard"], 0.0) + value
    total = float(inputs["total_assets_eur"])
    return {
        "assets_at_material_physical_risk_eur": round(at_risk, 0),
        "share_of_total_assets_pct": round(100 * at_risk / total, 2) if total else 0.0,
        "expected_annual_loss_eur": round(expected_loss, 0),
        "by_hazard_eur": by_hazard,
    }
