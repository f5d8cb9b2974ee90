"""Scope 3 category 11: direct use-phase emissions of energy-using products sold in the year.

emissions = units sold x lifetime years x annual energy use x grid factor (+ refrigerant leakage)
"""


def product_emissions(p: dict, grid_factors: dict) -> float:
    units = float(p["units_sold"])
    lifetime = float(p["lifetime_years"])
    energy_kg = 0.0
    for market, share in p.get("market_split", {"default": 1.0}).items():
        ef = grid_factors.get(market, grid_factors["default"])
        energy_kg += units * share * lifetime * float(p["annual_kwh"]) * ef
    fuel_kg = units * lifetime * float(p.get("annual_fuel_litres", 0.0)) * 2.66
    leak_kg = units * float(p.get("refrigerant_charge_kg", 0.0)) * float(p.get("lifetime_leak_rate", 0.0)) \
        * float(p.get("refrigerant_gwp", 0.0))
    return energy_kg + fuel_kg + leak_kg


def run(inputs: dict) -> dict:
    grid = {"default": 0.45, **inputs.get("grid_kg_per_kwh", {})}
    lines = []
    for p in inputs.get("products", []):
        t = product_emissions(p, grid) / 1000
        lines.append({"sku": p["sku"], "tco2e": round(t, 1),
                      "per_unit_kgco2e": round(t * 1000 / float(p["units_sold"]), 1)})
    return {"products": lines, "scope3_cat11_tco2e": round(sum(x["tco2e"] for x in lines), 1)}
