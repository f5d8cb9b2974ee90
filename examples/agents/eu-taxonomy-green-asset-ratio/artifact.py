"""Green Asset Ratio (GAR) for credit institutions under the Taxonomy Art. 8 Delegated Act.

GAR = taxonomy-aligned covered exposures / total covered assets; exposures to sovereigns,
central banks and the trading book are excluded from the denominator.
"""

EXCLUDED_FROM_DENOMINATOR = {"sovereign", "central_bank", "trading_book"}
NUMERATOR_ELIGIBLE = {"nfrd_corporate", "financial_corporate", "household_mortgage",
                      "household_renovation", "motor_vehicle_loan", "local_government"}


def run(inputs: dict) -> dict:
    """inputs: {"exposures": [{type, amount_eur, aligned_share, eligible_share}]}"""
    covered = numerator = eligible = 0.0
    by_type = {}
    for e in inputs.get("exposures", []):
        if e["type"] in EXCLUDED_FROM_DENOMINATOR:
            continue
        amount = float(e["amount_eur"])
        covered += amount
        if e["type"] in NUMERATOR_ELIGIBLE:
            aligned = amount * float(e.get("aligned_share", 0.0))
            numerator += aligned
            eligible += amount * float(e.get("eligible_share", 0.0))
            by_type[e["type"]] = by_type.get(e["type"], 0.0) + aligned
    return {
        "gar_pct": round(100 * numerator / covered, 2) if covered else 0.0,
        "eligible_pct": round(100 * eligible / covered, 2) if covered else 0.0,
        "covered_assets_eur": round(covered),
        "aligned_by_type_eur": {k: round(v) for k, v in sorted(by_type.items())},
    }
