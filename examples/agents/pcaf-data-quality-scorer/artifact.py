"""Assign PCAF data quality scores (1 = best, 5 = worst) for business loans and listed equity."""


def score(position: dict) -> tuple[int, str]:
    if position.get("reported_emissions_verified"):
        return 1, "option 1a: verified reported emissions"
    if position.get("reported_emissions"):
        return 2, "option 1b: unverified reported emissions"
    if position.get("primary_energy_data"):
        return 3, "option 2: physical activity-based (energy consumption)"
    if position.get("production_data"):
        return 3, "option 2: physical activity-based (production)"
    if position.get("revenue"):
        return 4, "option 3a: economic activity-based (revenue x sector EF)"
    return 5, "option 3b/3c: asset turnover or sector average"


def run(inputs: dict) -> dict:
    rows, weighted, exposure_total = [], 0.0, 0.0
    for p in inputs.get("positions", []):
        s, basis = score(p)
        exposure = float(p.get("exposure_eur", 0.0))
        rows.append({"position_id": p["position_id"], "score": s, "basis": basis})
        weighted += s * exposure
        exposure_total += exposure
    distribution = {k: sum(1 for r in rows if r["score"] == k) for k in range(1, 6)}
    return {"positions": rows, "distribution": distribution,
            "exposure_weighted_score": round(weighted / exposure_total, 2) if exposure_total else None}
