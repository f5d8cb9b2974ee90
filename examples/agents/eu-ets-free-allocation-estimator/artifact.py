"""Estimate EU ETS free allocation for a sub-installation (FAR, Reg. 2019/331, 2026-2030).

allocation = benchmark x historical activity level x carbon-leakage exposure factor
             x cross-sectoral correction factor x (1 - CBAM reduction) for CBAM sectors
"""

BENCHMARKS = {"hot_metal": 1.288, "grey_cement_clinker": 0.693, "aluminium": 1.464,
              "ammonia": 1.570, "hydrogen": 6.84, "heat": 47.3, "fuel": 42.6}  # per t or TJ
CBAM_SECTORS = {"hot_metal", "grey_cement_clinker", "aluminium", "ammonia", "hydrogen"}
CBAM_REDUCTION = {2026: 0.025, 2027: 0.05, 2028: 0.10, 2029: 0.225, 2030: 0.485,
                  2031: 0.61, 2032: 0.735, 2033: 0.86}  # 1.0 from 2034


def clef(leakage_exposed: bool, year: int) -> float:
    """Carbon leakage exposure factor: 1 if exposed, else 0.3 falling to 0 by 2030."""
    if leakage_exposed:
        return 1.0
    return 0.3 if year <= 2026 else max(0.0, 0.3 * (2030 - year) / 4)


def run(inputs: dict) -> dict:
    """inputs: {"year", "cscf": 1.0, "sub_installations": [{product, hal, leakage_exposed}]}"""
    year = int(inputs["year"])
    cscf = float(inputs.get("cscf", 1.0))
    rows, total = [], 0.0
    for s in inputs.get("sub_installations", []):
        factor = clef(s.get("leakage_exposed", True), year)
        alloc = BENCHMARKS[s["product"]] * float(s["hal"]) * factor * cscf
        if s["product"] in CBAM_SECTORS and year >= 2026:
            alloc *= 1 - CBAM_REDUCTION.get(year, 1.0)
        rows.append({"product": s["product"], "allocation": int(alloc)})
        total += int(alloc)
    return {"year": year, "sub_installations": rows, "free_allocation_allowances": int(total)}
