"""Fugitive refrigerant emissions by the mass-balance method (GHG Protocol HFC guidance).

emissions = (inventory change + purchases - sales/disposals - capacity increase) x GWP
"""

GWP100_AR6 = {"R-134a": 1530, "R-410A": 2256, "R-404A": 4728, "R-32": 771,
              "R-407C": 1908, "R-1234yf": 0.501, "R-744": 1, "SF6": 25200}


def mass_balance_kg(r: dict) -> float:
    return (
        float(r.get("inventory_start_kg", 0)) - float(r.get("inventory_end_kg", 0))
        + float(r.get("purchased_kg", 0))
        - float(r.get("returned_or_sold_kg", 0))
        + float(r.get("capacity_retired_kg", 0)) - float(r.get("capacity_new_kg", 0))
    )


def run(inputs: dict) -> dict:
    lines, total = [], 0.0
    for r in inputs.get("refrigerants", []):
        gas = r["gas"]
        if gas not in GWP100_AR6:
            raise ValueError(f"no GWP for {gas}")
        leaked = max(0.0, mass_balance_kg(r))
        tco2e = leaked * GWP100_AR6[gas] / 1000
        total += tco2e
        lines.append({"gas": gas, "leaked_kg": round(leaked, 2), "tco2e": round(tco2e, 3)})
    return {"lines": lines, "scope1_fugitive_tco2e": round(total, 3)}
