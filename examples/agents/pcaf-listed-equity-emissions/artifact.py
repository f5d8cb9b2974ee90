"""PCAF financed emissions for listed equity and corporate bonds.

attribution factor = outstanding amount / EVIC ; financed emissions = AF x company emissions
"""


def run(inputs: dict) -> dict:
    """inputs: {"holdings": [{issuer, outstanding_eur, evic_eur, scope1, scope2, scope3?,
    dq_score}], "include_scope3": bool}"""
    include_s3 = inputs.get("include_scope3", False)
    rows, total, total_invested, weighted_dq = [], 0.0, 0.0, 0.0
    for h in inputs.get("holdings", []):
        evic = float(h["evic_eur"])
        if evic <= 0:
            raise ValueError(f"EVIC must be positive for {h['issuer']}")
        af = min(1.0, float(h["outstanding_eur"]) / evic)
        emissions = float(h["scope1"]) + float(h["scope2"])
        if include_s3:
            emissions += float(h.get("scope3", 0.0))
        financed = af * emissions
        rows.append({"issuer": h["issuer"], "attribution_factor": round(af, 6),
                     "financed_tco2e": round(financed, 2)})
        total += financed
        total_invested += float(h["outstanding_eur"])
        weighted_dq += financed * float(h.get("dq_score", 5))
    return {
        "holdings": rows,
        "financed_emissions_tco2e": round(total, 1),
        "economic_intensity_tco2e_per_meur": round(total / (total_invested / 1e6), 2) if total_invested else 0.0,
        "weighted_data_quality": round(weighted_dq / total, 2) if total else None,
    }
