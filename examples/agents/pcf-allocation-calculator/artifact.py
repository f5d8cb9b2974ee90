"""Allocate multi-output process emissions to co-products (ISO 14044 4.3.4 / ISO 14067 6.4.6).

Supports physical (mass or energy) and economic allocation; allocation factors sum to 1.
"""

METHODS = {"mass": "mass_kg", "energy": "energy_mj", "economic": "revenue_eur"}


def run(inputs: dict) -> dict:
    """inputs: {"process_emissions_kgco2e", "method": mass|energy|economic,
    "products": [{name, mass_kg, energy_mj?, revenue_eur?}]}"""
    method = inputs.get("method", "mass")
    key = METHODS[method]
    products = inputs["products"]
    basis = [float(p.get(key, 0.0)) for p in products]
    if sum(basis) <= 0:
        raise ValueError(f"no {key} values for {method} allocation")
    emissions = float(inputs["process_emissions_kgco2e"])
    out = []
    for p, b in zip(products, basis):
        factor = b / sum(basis)
        allocated = emissions * factor
        out.append({"name": p["name"], "allocation_factor": round(factor, 4),
                    "allocated_kgco2e": round(allocated, 3),
                    "kgco2e_per_kg": round(allocated / float(p["mass_kg"]), 4) if p.get("mass_kg") else None})
    # Sensitivity: ISO asks to report effects of alternative allocation where results differ.
    return {"method": method, "products": out,
            "sensitivity_required": method == "economic"}
