"""Normalise fuel and energy quantities to GJ (net calorific value) and MWh."""

# GJ per unit, net calorific values (IPCC 2006 defaults and typical densities).
TO_GJ = {
    ("natural_gas", "m3"): 0.0364, ("natural_gas", "kwh"): 0.0036, ("natural_gas", "therm"): 0.1055,
    ("natural_gas", "mmbtu"): 1.055, ("diesel", "litre"): 0.0359, ("diesel", "tonne"): 43.0,
    ("petrol", "litre"): 0.0325, ("lpg", "litre"): 0.0245, ("lpg", "kg"): 0.0473,
    ("heavy_fuel_oil", "tonne"): 40.4, ("coal_bituminous", "tonne"): 25.8,
    ("electricity", "kwh"): 0.0036, ("electricity", "mwh"): 3.6,
}
ALIASES = {"l": "litre", "liter": "litre", "liters": "litre", "litres": "litre", "t": "tonne",
           "m³": "m3", "scm": "m3", "kWh": "kwh", "MWh": "mwh", "MMBtu": "mmbtu"}


def normalise(fuel: str, quantity: float, unit: str) -> dict:
    unit = ALIASES.get(unit, unit).lower()
    unit = ALIASES.get(unit, unit)
    key = (fuel, unit)
    if key not in TO_GJ:
        raise ValueError(f"no conversion for {fuel} in {unit}")
    gj = quantity * TO_GJ[key]
    return {"fuel": fuel, "input": f"{quantity} {unit}", "gj": round(gj, 4), "mwh": round(gj / 3.6, 4)}


def run(inputs: dict) -> dict:
    rows, errors = [], []
    for item in inputs.get("quantities", []):
        try:
            rows.append(normalise(item["fuel"], float(item["quantity"]), item["unit"]))
        except ValueError as exc:
            errors.append(str(exc))
    return {"normalised": rows, "total_gj": round(sum(r["gj"] for r in rows), 3), "errors": errors}
