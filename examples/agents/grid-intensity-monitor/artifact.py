"""Monitor hourly grid carbon intensity and flag high-carbon hours for load shifting."""

from statistics import mean


def run(inputs: dict) -> dict:
    """inputs: {"zone", "hourly_g_per_kwh": [24+ values], "threshold_g_per_kwh"?,
    "flexible_load_kwh"?}"""
    series = [float(v) for v in inputs["hourly_g_per_kwh"]]
    if not series:
        raise ValueError("empty intensity series")
    avg = mean(series)
    threshold = float(inputs.get("threshold_g_per_kwh", avg * 1.2))
    high = [h for h, v in enumerate(series) if v > threshold]
    cleanest = sorted(range(len(series)), key=lambda h: series[h])[:4]
    flexible = float(inputs.get("flexible_load_kwh", 0.0))
    saving_g = flexible * (max(series) - mean(series[h] for h in cleanest)) if flexible else 0.0
    return {
        "zone": inputs.get("zone"),
        "average_g_per_kwh": round(avg, 1),
        "threshold_g_per_kwh": round(threshold, 1),
        "high_carbon_hours": high,
        "recommended_hours": sorted(cleanest),
        "alert": len(high) > len(series) / 4,
        "potential_saving_kgco2e": round(saving_g / 1000, 2),
    }
