"""Screen the 15 scope 3 categories for relevance (GHG Protocol Scope 3 Standard, Table 6.1)."""

CATEGORIES = range(1, 16)


def run(inputs: dict) -> dict:
    """inputs: {"estimates_tco2e": {cat: tCO2e}, "scope12_tco2e", "stakeholder_priority": [cat],
    "not_applicable": [cat]}"""
    estimates = {int(k): float(v) for k, v in inputs.get("estimates_tco2e", {}).items()}
    total_s3 = sum(estimates.values())
    total = total_s3 + float(inputs.get("scope12_tco2e", 0.0))
    priority = {int(c) for c in inputs.get("stakeholder_priority", [])}
    not_applicable = {int(c) for c in inputs.get("not_applicable", [])}
    results = {}
    for cat in CATEGORIES:
        if cat in not_applicable:
            results[cat] = {"relevant": False, "reason": "not applicable to business model"}
            continue
        share = estimates.get(cat, 0.0) / total_s3 if total_s3 else 0.0
        reasons = []
        if share >= 0.05:
            reasons.append(f"size: {share:.0%} of scope 3")
        if cat in priority:
            reasons.append("stakeholder priority")
        results[cat] = {"relevant": bool(reasons), "share_of_scope3": round(share, 3),
                        "reason": "; ".join(reasons) or "below 5% and not prioritised"}
    return {"categories": results,
            "relevant": [c for c, r in results.items() if r["relevant"]],
            "scope3_share_of_total": round(total_s3 / total, 3) if total else 0.0}
