"""EUDR geolocation and deforestation-cutoff check for production plots (Reg. (EU) 2023/1115).

Plots over 4 ha need a polygon; coordinates need at least 6 decimal places; any forest-loss
event on the plot after the 31 December 2020 cut-off makes the commodity non-compliant.
"""

from datetime import date

CUTOFF = date(2020, 12, 31)


def decimals(x: float) -> int:
    text = repr(float(x))
    return len(text.split(".")[1]) if "." in text else 0


def check_plot(plot: dict) -> list[str]:
    issues = []
    points = plot.get("polygon") or ([plot["point"]] if plot.get("point") else [])
    if not points:
        issues.append("no geolocation")
    if float(plot.get("area_ha", 0)) > 4 and not plot.get("polygon"):
        issues.append("plot over 4 ha needs a polygon")
    for lat, lon in points:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            issues.append(f"coordinate out of range: {lat},{lon}")
        elif min(decimals(lat), decimals(lon)) < 6:
            issues.append(f"coordinate precision below 6 decimals: {lat},{lon}")
    for event in plot.get("forest_loss_events", []):
        if date.fromisoformat(event) > CUTOFF:
            issues.append(f"forest loss on {event} after cut-off {CUTOFF}")
    return issues


def run(inputs: dict) -> dict:
    results = {p["plot_id"]: check_plot(p) for p in inputs.get("plots", [])}
    return {"plots": results, "compliant": all(not v for v in results.values()),
            "non_compliant_plots": sorted(k for k, v in results.items() if v)}
