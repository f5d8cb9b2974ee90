"""Scope 3 category 4 upstream transport: tonne-km x mode factor (GLEC Framework style)."""

import math

# g CO2e per tonne-km, well-to-wheel.
MODE_EF = {"road_hgv": 78.0, "rail_electric": 10.0, "rail_diesel": 28.0,
           "sea_container": 8.4, "sea_bulk": 4.5, "inland_waterway": 31.0, "air_freight": 990.0}
# Great-circle to routed distance (GLEC default adjustment factors); sea routes follow lanes.
DISTANCE_ADJUSTMENT = {"road_hgv": 1.05, "rail_electric": 1.15, "rail_diesel": 1.15,
                       "sea_container": 1.15, "sea_bulk": 1.15, "air_freight": 1.09}


def great_circle_km(a: tuple, b: tuple) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def leg_emissions(leg: dict) -> float:
    km = leg.get("distance_km")
    if km is None:
        km = great_circle_km(tuple(leg["origin"]), tuple(leg["destination"]))
        km *= DISTANCE_ADJUSTMENT.get(leg["mode"], 1.0)
    return float(leg["tonnes"]) * float(km) * MODE_EF[leg["mode"]] / 1e6


def run(inputs: dict) -> dict:
    by_mode = {}
    for shipment in inputs.get("shipments", []):
        for leg in shipment["legs"]:
            by_mode[leg["mode"]] = by_mode.get(leg["mode"], 0.0) + leg_emissions(leg)
    return {"by_mode_tco2e": {m: round(v, 3) for m, v in by_mode.items()},
            "scope3_cat4_tco2e": round(sum(by_mode.values()), 3)}
