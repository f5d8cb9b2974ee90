"""Check a long-term net-zero target against the SBTi Corporate Net-Zero Standard.

Long-term targets need >= 90% absolute reduction by 2050 at the latest (sector exceptions
such as FLAG at 72%), and residual emissions must be neutralised with permanent removals;
avoided-emission credits cannot count towards the target.
"""

MIN_REDUCTION = {"default": 0.90, "flag": 0.72}


def run(inputs: dict) -> dict:
    """inputs: {"target_year", "base_emissions_tco2e", "target_emissions_tco2e", "pathway":
    "default"|"flag", "removals": [{type, tco2, permanent: bool}]}"""
    issues = []
    if int(inputs["target_year"]) > 2050:
        issues.append("net-zero target year must be 2050 or earlier")
    base, residual = float(inputs["base_emissions_tco2e"]), float(inputs["target_emissions_tco2e"])
    reduction = 1 - residual / base
    minimum = MIN_REDUCTION[inputs.get("pathway", "default")]
    if reduction < minimum:
        issues.append(f"reduction {reduction:.0%} below required {minimum:.0%}")
    permanent = sum(float(r["tco2"]) for r in inputs.get("removals", [])
                    if r.get("permanent") and r["type"] != "avoidance")
    excluded = [r["type"] for r in inputs.get("removals", []) if r["type"] == "avoidance"]
    if excluded:
        issues.append("avoided-emission credits cannot neutralise residual emissions")
    if permanent < residual:
        issues.append(f"permanent removals {permanent:.0f} t below residual {residual:.0f} t")
    return {"reduction_pct": round(100 * reduction, 1), "residual_tco2e": residual,
            "neutralisation_coverage": round(permanent / residual, 2) if residual else 1.0,
            "issues": issues, "passes": not issues}
