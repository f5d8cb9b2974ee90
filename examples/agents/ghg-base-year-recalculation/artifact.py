"""Decide whether structural or methodological changes trigger base-year recalculation.

GHG Protocol Corporate Standard chapter 5: recalculate when the cumulative effect of changes
exceeds the company's significance threshold (commonly 5% of base-year emissions).
"""

TRIGGERS = {"acquisition", "divestment", "outsourcing", "insourcing", "methodology", "error"}


def run(inputs: dict) -> dict:
    """inputs: {"base_year_tco2e", "threshold": 0.05, "changes": [{type, delta_tco2e,
    existed_in_base_year}]}"""
    base = float(inputs["base_year_tco2e"])
    threshold = float(inputs.get("threshold", 0.05))
    counted, ignored = [], []
    for change in inputs.get("changes", []):
        if change["type"] not in TRIGGERS:
            ignored.append({**change, "reason": "organic growth/decline does not trigger"})
        elif change["type"] in ("acquisition", "divestment") and not change.get("existed_in_base_year", True):
            ignored.append({**change, "reason": "facility did not exist in base year"})
        else:
            counted.append(change)
    cumulative = sum(abs(float(c["delta_tco2e"])) for c in counted)
    ratio = cumulative / base if base else 0.0
    adjusted = base + sum(float(c["delta_tco2e"]) for c in counted)
    return {
        "cumulative_change_pct": round(100 * ratio, 2),
        "recalculate": ratio >= threshold,
        "recalculated_base_year_tco2e": round(adjusted, 1) if ratio >= threshold else base,
        "ignored": ignored,
    }
