"""Combine GHG inventory uncertainties (ISO 14064-1 clause 8.3, IPCC Approach 1).

Products (AD x EF): U = sqrt(U_ad^2 + U_ef^2); sums: U_total = sqrt(sum((U_i x E_i)^2)) / sum(E_i).
"""

import math


def source_uncertainty(ad_pct: float, ef_pct: float) -> float:
    return math.sqrt(ad_pct ** 2 + ef_pct ** 2)


def run(inputs: dict) -> dict:
    """inputs: {"sources": [{name, tco2e, ad_uncertainty_pct, ef_uncertainty_pct}]}"""
    rows, total, squares = [], 0.0, 0.0
    for s in inputs.get("sources", []):
        e = float(s["tco2e"])
        u = source_uncertainty(float(s["ad_uncertainty_pct"]), float(s["ef_uncertainty_pct"]))
        rows.append({"name": s["name"], "uncertainty_pct": round(u, 2)})
        total += e
        squares += (u * e) ** 2
    combined = math.sqrt(squares) / total if total else 0.0
    contributions = sorted(
        ((r["name"], (r["uncertainty_pct"] * float(s["tco2e"])) ** 2 / squares if squares else 0.0)
         for r, s in zip(rows, inputs.get("sources", []))),
        key=lambda x: -x[1])
    return {"sources": rows, "total_tco2e": round(total, 2),
            "combined_uncertainty_pct": round(combined, 2),
            "confidence_interval_95_tco2e": [round(total * (1 - combined / 100), 1),
                                             round(total * (1 + combined / 100), 1)],
            "top_contributors": [name for name, _ in contributions[:3]]}
