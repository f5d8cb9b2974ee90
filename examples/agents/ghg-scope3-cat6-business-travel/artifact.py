"""Scope 3 category 6 business travel: flights by haul and class, rail, hotel nights."""

# kg CO2e per passenger-km without radiative forcing (DEFRA-style), by haul and cabin class.
FLIGHT_EF = {
    "domestic": {"economy": 0.246},
    "short_haul": {"economy": 0.151, "business": 0.227},
    "long_haul": {"economy": 0.148, "premium_economy": 0.237, "business": 0.429, "first": 0.592},
}
RF_MULTIPLIER = 1.7
RAIL_EF = 0.035  # kg CO2e / pkm
HOTEL_EF = {"DE": 13.4, "FR": 6.2, "GB": 10.4, "US": 16.1, "default": 14.0}  # per room-night


def haul(km: float, domestic: bool) -> str:
    if domestic:
        return "domestic"
    return "short_haul" if km < 3700 else "long_haul"


def run(inputs: dict) -> dict:
    include_rf = inputs.get("include_radiative_forcing", True)
    flights = 0.0
    for f in inputs.get("flights", []):
        h = haul(float(f["km"]), f.get("domestic", False))
        ef = FLIGHT_EF[h].get(f.get("cabin", "economy"), FLIGHT_EF[h]["economy"])
        flights += float(f["km"]) * ef * (RF_MULTIPLIER if include_rf else 1.0) * f.get("passengers", 1)
    rail = sum(float(r["km"]) for r in inputs.get("rail", [])) * RAIL_EF
    hotels = sum(n["nights"] * HOTEL_EF.get(n.get("country"), HOTEL_EF["default"])
                 for n in inputs.get("hotels", []))
    return {
        "flights_tco2e": round(flights / 1000, 3),
        "rail_tco2e": round(rail / 1000, 3),
        "hotels_tco2e": round(hotels / 1000, 3),
        "scope3_cat6_tco2e": round((flights + rail + hotels) / 1000, 3),
        "radiative_forcing_included": include_rf,
    }
