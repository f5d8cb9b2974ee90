"""Detect anomalies in monthly activity data (energy, fuel, refrigerant) before calculation.

Uses a robust z-score (median and MAD) per site and metric, plus checks for gaps and
month-on-month jumps that usually indicate unit errors (x1000).
"""

from statistics import median


def robust_z(values: list[float]) -> list[float]:
    med = median(values)
    mad = median(abs(v - med) for v in values) or 1e-9
    return [0.6745 * (v - med) / mad for v in values]


def run(inputs: dict) -> dict:
    """inputs: {"series": [{site, metric, months: ["2024-01", ...], values: [..]}], "z": 3.5}"""
    limit = float(inputs.get("z", 3.5))
    findings = []
    for s in inputs.get("series", []):
        values = [v for v in s["values"] if v is not None]
        for month, v in zip(s["months"], s["values"]):
            if v is None:
                findings.append({"site": s["site"], "metric": s["metric"], "month": month, "issue": "missing"})
        if len(values) < 6:
            continue
        for month, v, z in zip([m for m, x in zip(s["months"], s["values"]) if x is not None], values, robust_z(values)):
            if abs(z) > limit:
                kind = "possible unit error" if v > 500 * median(values) else "outlier"
                findings.append({"site": s["site"], "metric": s["metric"], "month": month,
                                 "issue": kind, "value": v, "z": round(z, 1)})
    return {"findings": findings, "ok": not findings}
