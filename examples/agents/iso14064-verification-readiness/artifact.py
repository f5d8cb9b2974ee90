"""Check an inventory's readiness for ISO 14064-3 verification.

Flags sources without evidence, estimates above the materiality threshold and missing
uncertainty statements, then gives a readiness verdict for limited or reasonable assurance.
"""


def run(inputs: dict) -> dict:
    """inputs: {"assurance": "limited"|"reasonable", "sources": [{id, tco2e, evidence: bool,
    estimated: bool, uncertainty_pct}]}"""
    assurance = inputs.get("assurance", "limited")
    materiality = 0.05 if assurance == "limited" else 0.02  # typical verifier thresholds
    sources = inputs.get("sources", [])
    total = sum(float(s["tco2e"]) for s in sources)
    findings = []
    unevidenced = sum(float(s["tco2e"]) for s in sources if not s.get("evidence"))
    if total and unevidenced / total > materiality:
        findings.append(f"{unevidenced / total:.1%} of emissions lack supporting evidence")
    estimated = sum(float(s["tco2e"]) for s in sources if s.get("estimated"))
    if total and estimated / total > 0.2:
        findings.append(f"{estimated / total:.1%} of emissions are estimated")
    missing_unc = [s["id"] for s in sources if s.get("uncertainty_pct") is None]
    if missing_unc:
        findings.append(f"uncertainty not stated for {len(missing_unc)} sources")
    combined = (sum((float(s["tco2e"]) * float(s.get("uncertainty_pct") or 0) / 100) ** 2
                    for s in sources) ** 0.5) / total * 100 if total else 0.0
    return {"assurance": assurance, "total_tco2e": round(total, 2),
            "combined_uncertainty_pct": round(combined, 2),
            "findings": findings, "ready": not findings}
