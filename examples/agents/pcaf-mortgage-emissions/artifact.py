"""PCAF financed emissions for residential mortgages.

AF = outstanding loan / property value at origination;
emissions = floor area x energy intensity (from EPC label or estimate) x emission factor.
"""

EPC_KWH_PER_M2 = {"A": 40, "B": 75, "C": 110, "D": 150, "E": 200, "F": 260, "G": 340}
HEATING_EF = {"gas": 0.202, "oil": 0.266, "electric": 0.38, "district_heat": 0.16, "heat_pump": 0.12}


def loan_emissions(loan: dict) -> dict:
    af = min(1.0, float(loan["outstanding_eur"]) / float(loan["value_at_origination_eur"]))
    if loan.get("metered_kwh") is not None:
        kwh, dq = float(loan["metered_kwh"]), 3  # actual consumption
    elif loan.get("epc"):
        kwh, dq = float(loan["floor_area_m2"]) * EPC_KWH_PER_M2[loan["epc"]], 4
    else:
        kwh, dq = float(loan["floor_area_m2"]) * EPC_KWH_PER_M2["D"], 5  # national average proxy
    building_t = kwh * HEATING_EF[loan.get("heating", "gas")] / 1000
    return {"loan_id": loan["loan_id"], "attribution_factor": round(af, 4),
            "financed_tco2e": round(af * building_t, 3), "pcaf_dq": dq}


def run(inputs: dict) -> dict:
    loans = [loan_emissions(l) for l in inputs.get("loans", [])]
    total = sum(l["financed_tco2e"] for l in loans)
    return {"loans": loans, "financed_emissions_tco2e": round(total, 2),
            "avg_data_quality": round(sum(l["pcaf_dq"] for l in loans) / len(loans), 2) if loans else None}
