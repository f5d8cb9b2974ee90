"""CBAM embedded emissions: activity data x specific embedded emissions (SEE) per CN code.

Implements Annex IV of Regulation (EU) 2023/956 for simple goods: direct and indirect
emissions are computed separately and summed per import line.
"""

# Illustrative specific embedded emissions, tCO2e per tonne of good (direct, indirect).
SEE_BY_CN = {
    "72081000": (1.85, 0.30),  # hot-rolled flat steel, BF-BOF route
    "72071111": (1.71, 0.28),  # semi-finished steel
    "76011000": (1.60, 6.90),  # unwrought aluminium, not alloyed
    "25231000": (0.85, 0.05),  # cement clinker
    "31021010": (1.80, 0.12),  # urea
    "28041000": (9.00, 0.60),  # hydrogen, grey SMR
}


def embedded_emissions(cn_code: str, tonnes: float, direct=None, indirect=None) -> dict:
    if tonnes < 0:
        raise ValueError("tonnes must be non-negative")
    default_direct, default_indirect = SEE_BY_CN[cn_code]
    see_direct = default_direct if direct is None else direct
    see_indirect = default_indirect if indirect is None else indirect
    return {
        "cn_code": cn_code,
        "tonnes": tonnes,
        "direct_tco2e": round(tonnes * see_direct, 3),
        "indirect_tco2e": round(tonnes * see_indirect, 3),
        "total_tco2e": round(tonnes * (see_direct + see_indirect), 3),
        "uses_actual_data": direct is not None,
    }


def run(inputs: dict) -> dict:
    """inputs: {"imports": [{"cn_code", "tonnes", "see_direct"?, "see_indirect"?}]}"""
    lines = [
        embedded_emissions(i["cn_code"], float(i["tonnes"]), i.get("see_direct"), i.get("see_indirect"))
        for i in inputs.get("imports", [])
    ]
    return {
        "lines": lines,
        "total_direct_tco2e": round(sum(x["direct_tco2e"] for x in lines), 3),
        "total_indirect_tco2e": round(sum(x["indirect_tco2e"] for x in lines), 3),
        "total_tco2e": round(sum(x["total_tco2e"] for x in lines), 3),
    }
