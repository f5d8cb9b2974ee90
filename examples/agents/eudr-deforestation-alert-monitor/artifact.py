"""Monitor supplier plots against satellite forest-loss alerts (GLAD/RADD style feeds)."""

import math
from datetime import date

CUTOFF = date(2020, 12, 31)


def distance_m(a, b) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    x = (lon2 - lon1) * math.cos((lat1 + lat2) / 2)
    return 6_371_000 * math.hypot(x, lat2 - lat1)


def run(inputs: dict) -> dict:
    """inputs: {"plots": [{plot_id, centroid: [lat, lon], radius_m}],
    "alerts": [{id, location: [lat, lon], date, confidence}], "min_confidence": 0.8}"""
    min_conf = float(inputs.get("min_confidence", 0.8))
    hits = []
    for alert in inputs.get("alerts", []):
        if float(alert["confidence"]) < min_conf:
            continue
        when = date.fromisoformat(alert["date"])
        for plot in inputs.get("plots", []):
            d = distance_m(plot["centroid"], alert["location"])
            if d <= float(plot.get("radius_m", 500)):
                hits.append({"plot_id": plot["plot_id"], "alert_id": alert["id"],
                             "date": alert["date"], "distance_m": round(d),
                             "after_cutoff": when > CUTOFF})
    flagged = sorted({h["plot_id"] for h in hits if h["after_cutoff"]})
    return {"alerts_matched": hits, "plots_to_suspend": flagged,
            "severity": "critical" if flagged else "ok"}
