"""EU Taxonomy KPIs (Art. 8 Disclosures Delegated Act): turnover, CapEx and OpEx alignment.

An activity is aligned when eligible, it substantially contributes to one objective, does no
significant harm (DNSH) to the others and the undertaking meets minimum safeguards.
"""

KPIS = ("turnover", "capex", "opex")


def aligned(activity: dict, safeguards: bool) -> bool:
    return (activity.get("eligible", False) and bool(activity.get("substantial_contribution"))
            and activity.get("dnsh", False) and safeguards)


def run(inputs: dict) -> dict:
    """inputs: {"minimum_safeguards": bool, "totals": {turnover, capex, opex},
    "activities": [{code, eligible, substantial_contribution: "CCM"|"CCA"|..., dnsh,
    turnover, capex, opex, enabling?, transitional?}]}"""
    safeguards = inputs.get("minimum_safeguards", False)
    out = {}
    for kpi in KPIS:
        denominator = float(inputs["totals"][kpi])
        eligible = sum(float(a.get(kpi, 0)) for a in inputs["activities"] if a.get("eligible"))
        al = [a for a in inputs["activities"] if aligned(a, safeguards)]
        aligned_amount = sum(float(a.get(kpi, 0)) for a in al)
        out[kpi] = {
            "eligible_pct": round(100 * eligible / denominator, 2) if denominator else 0.0,
            "aligned_pct": round(100 * aligned_amount / denominator, 2) if denominator else 0.0,
            "enabling_pct": round(100 * sum(float(a.get(kpi, 0)) for a in al if a.get("enabling"))
                                  / denominator, 2) if denominator else 0.0,
            "transitional_pct": round(100 * sum(float(a.get(kpi, 0)) for a in al if a.get("transitional"))
                                      / denominator, 2) if denominator else 0.0,
        }
    return {"kpis": out, "minimum_safeguards_met": safeguards}
