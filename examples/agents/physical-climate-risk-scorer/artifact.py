"""Site-level physical climate risk score: hazard x exposure x vulnerability per hazard.

Hazard scores (0-1) change by scenario and horizon via multipliers derived from IPCC AR6
SSP warming levels; the aggregate site score is the maximum of the hazard risks.
"""

SCENARIO_MULTIPLIER = {  # (scenario, horizon) -> multiplier on present-day hazard
    ("SSP1-2.6", 2030): 1.05, ("SSP1-2.6", 2050): 1.10,
    ("SSP2-4.5", 2030): 1.10, ("SSP2-4.5", 2050): 1.25,
    ("SSP5-8.5", 2030): 1.15, ("SSP5-8.5", 2050): 1.45,
}
HAZARDS = ("riverine_flood", "coastal_flood", "extreme_heat", "drought", "wildfire", "cyclone")


def run(inputs: dict) -> dict:
    """inputs: {"scenario", "horizon", "sites": [{site_id, hazards: {h: 0-1},
    exposure: 0-1, vulnerability: {h: 0-1}}]}"""
    mult = SCENARIO_MULTIPLIER[(inputs.get("scenario", "SSP2-4.5"), int(inputs.get("horizon", 2050)))]
    results = []
    for site in inputs.get("sites", []):
        risks = {}
        for h in HAZARDS:
            hazard = min(1.0, float(site["hazards"].get(h, 0.0)) * mult)
            vuln = float(site.get("vulnerability", {}).get(h, 0.5))
            risks[h] = round(hazard * float(site.get("exposure", 1.0)) * vuln, 3)
        score = max(risks.values())
        results.append({"site_id": site["site_id"], "risks": risks, "score": score,
                        "band": "high" if score >= 0.5 else "medium" if score >= 0.2 else "low",
                        "driver": max(risks, key=risks.get)})
    return {"multiplier": mult, "sites": results,
            "high_risk_sites": [r["site_id"] for r in results if r["band"] == "high"]}
