"""Score supplier-provided emissions data quality (GHG Protocol / PACT data quality indicators).

Five indicators rated 1 (best) to 3: technological, temporal, geographical representativeness,
completeness and reliability; the overall DQR is their mean.
"""

from datetime import date


def temporal(reference_year: int, today: date) -> int:
    age = today.year - reference_year
    return 1 if age <= 1 else 2 if age <= 3 else 3


def run(inputs: dict) -> dict:
    today = date.fromisoformat(inputs.get("as_of", date.today().isoformat()))
    scored = []
    for s in inputs.get("submissions", []):
        dqi = {
            "technological": 1 if s.get("product_specific") else 2 if s.get("process_specific") else 3,
            "temporal": temporal(int(s["reference_year"]), today),
            "geographical": 1 if s.get("site_specific") else 2 if s.get("country_specific") else 3,
            "completeness": 1 if s.get("coverage_pct", 0) >= 95 else 2 if s.get("coverage_pct", 0) >= 80 else 3,
            "reliability": 1 if s.get("verified") else 2 if s.get("primary_data") else 3,
        }
        dqr = sum(dqi.values()) / len(dqi)
        scored.append({"supplier": s["supplier"], "dqi": dqi, "dqr": round(dqr, 2),
                       "rating": "good" if dqr <= 1.6 else "fair" if dqr <= 2.3 else "poor"})
    return {"suppliers": scored,
            "share_good": round(sum(r["rating"] == "good" for r in scored) / len(scored), 2)
            if scored else 0.0}
