"""Scope 3 category 7 employee commuting, average-data method from a commuting survey."""

MODE_EF = {"car_petrol": 0.164, "car_diesel": 0.168, "car_bev": 0.047, "bus": 0.097,
           "rail": 0.035, "metro": 0.028, "bicycle": 0.0, "walk": 0.0}  # kg CO2e per pkm
HOMEWORKING_KWH_PER_DAY = 3.3  # heating and IT load attributable to a home-working day


def run(inputs: dict) -> dict:
    """inputs: {"employees", "working_days", "remote_share", "avg_one_way_km",
    "mode_share": {mode: share}, "grid_kg_per_kwh"}"""
    employees = int(inputs["employees"])
    days = float(inputs.get("working_days", 220))
    remote = float(inputs.get("remote_share", 0.0))
    shares = inputs["mode_share"]
    if abs(sum(shares.values()) - 1.0) > 0.01:
        raise ValueError("mode shares must sum to 1")
    commute_days = employees * days * (1 - remote)
    round_trip_km = 2 * float(inputs["avg_one_way_km"])
    commuting_kg = sum(commute_days * round_trip_km * s * MODE_EF[m] for m, s in shares.items())
    home_kg = employees * days * remote * HOMEWORKING_KWH_PER_DAY * float(inputs.get("grid_kg_per_kwh", 0.38))
    return {
        "commuting_tco2e": round(commuting_kg / 1000, 2),
        "homeworking_tco2e": round(home_kg / 1000, 2),
        "scope3_cat7_tco2e": round((commuting_kg + home_kg) / 1000, 2),
        "per_employee_kgco2e": round((commuting_kg + home_kg) / employees, 1) if employees else 0.0,
    }
