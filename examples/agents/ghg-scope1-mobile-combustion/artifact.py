"""Scope 1 mobile combustion for owned fleets: fuel-based, with a distance-based fallback."""

# kg CO2e per litre (well-to-wheel excluded; tank-to-wheel only), AR5-based national factors.
FUEL_EF = {"diesel": 2.66, "petrol": 2.31, "cng_kg": 2.54, "lpg": 1.56}
# kg CO2e per km when only distance is known, by vehicle class.
DISTANCE_EF = {"car_small": 0.140, "car_medium": 0.170, "van_class_iii": 0.260,
               "hgv_rigid": 0.600, "hgv_articulated": 0.870}
BLEND_BIO_SHARE = {"diesel": 0.07, "petrol": 0.05}  # B7 / E5 biofuel volume share


def vehicle_emissions(v: dict) -> tuple[float, str]:
    if v.get("litres") is not None:
        fuel = v["fuel"]
        fossil_share = 1 - BLEND_BIO_SHARE.get(fuel, 0.0)
        return float(v["litres"]) * FUEL_EF[fuel] * fossil_share / 1000, "fuel-based"
    return float(v["km"]) * DISTANCE_EF[v["vehicle_class"]] / 1000, "distance-based"


def run(inputs: dict) -> dict:
    results, total = [], 0.0
    for v in inputs.get("vehicles", []):
        t, method = vehicle_emissions(v)
        total += t
        results.append({"vehicle_id": v.get("vehicle_id"), "tco2e": round(t, 4), "method": method})
    fuel_based = sum(1 for r in results if r["method"] == "fuel-based")
    return {
        "vehicles": results,
        "scope1_mobile_tco2e": round(total, 3),
        "fuel_based_share": round(fuel_based / len(results), 2) if results else 0.0,
    }
