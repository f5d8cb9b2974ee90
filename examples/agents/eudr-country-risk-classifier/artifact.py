"""Classify sourcing by EUDR country benchmarking (Art. 29) and derive due-diligence effort.

Competent-authority check rates: 1% low, 3% standard, 9% high risk. Low-risk sourcing
qualifies for simplified due diligence (Art. 13) unless there are substantiated concerns.
"""

BENCHMARK = {"DK": "low", "FI": "low", "DE": "low", "FR": "low", "US": "low", "CA": "low",
             "BR": "standard", "ID": "standard", "MY": "standard", "CI": "standard",
             "GH": "standard", "CO": "standard", "BY": "high", "RU": "high", "KP": "high",
             "MM": "high"}
CHECK_RATE = {"low": 0.01, "standard": 0.03, "high": 0.09}


def run(inputs: dict) -> dict:
    """inputs: {"sourcing": [{country, region?, volume_t}], "concerns": [country]}"""
    concerns = set(inputs.get("concerns", []))
    rows, weighted = [], {"low": 0.0, "standard": 0.0, "high": 0.0}
    for s in inputs.get("sourcing", []):
        risk = BENCHMARK.get(s["country"], "standard")  # unlisted countries are standard risk
        simplified = risk == "low" and s["country"] not in concerns
        weighted[risk] += float(s["volume_t"])
        rows.append({"country": s["country"], "risk": risk,
                     "authority_check_rate": CHECK_RATE[risk],
                     "due_diligence": "simplified" if simplified else "full"})
    total = sum(weighted.values())
    return {"sourcing": rows,
            "volume_share_by_risk": {k: round(v / total, 3) if total else 0.0
                                     for k, v in weighted.items()}}
