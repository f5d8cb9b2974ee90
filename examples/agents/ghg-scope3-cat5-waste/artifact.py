"""Scope 3 category 5: waste generated in operations, waste-type-specific method."""

# kg CO2e per tonne by (waste type, treatment); recycling carries transport/processing only.
EF = {
    ("mixed_msw", "landfill"): 586.0, ("mixed_msw", "incineration"): 21.0,
    ("food", "landfill"): 700.0, ("food", "composting"): 8.9, ("food", "anaerobic_digestion"): 8.9,
    ("paper", "landfill"): 1164.0, ("paper", "recycling"): 21.3,
    ("plastics", "landfill"): 9.0, ("plastics", "incineration"): 2100.0, ("plastics", "recycling"): 21.3,
    ("metals", "recycling"): 21.3, ("wee", "recycling"): 21.3,
}


def run(inputs: dict) -> dict:
    """inputs: {"waste": [{"type", "treatment", "tonnes"}]}"""
    total, by_treatment, unknown = 0.0, {}, []
    for w in inputs.get("waste", []):
        key = (w["type"], w["treatment"])
        if key not in EF:
            unknown.append(f"{key[0]}/{key[1]}")
            continue
        t = float(w["tonnes"]) * EF[key] / 1000
        total += t
        by_treatment[w["treatment"]] = by_treatment.get(w["treatment"], 0.0) + t
    diverted = sum(float(w["tonnes"]) for w in inputs.get("waste", []) if w["treatment"] != "landfill")
    generated = sum(float(w["tonnes"]) for w in inputs.get("waste", []))
    return {
        "scope3_cat5_tco2e": round(total, 3),
        "by_treatment_tco2e": {k: round(v, 3) for k, v in by_treatment.items()},
        "landfill_diversion_pct": round(100 * diverted / generated, 1) if generated else 0.0,
        "unknown_combinations": unknown,
    }
