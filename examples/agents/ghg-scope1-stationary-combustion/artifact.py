"""Scope 1 stationary combustion: fuel energy x CO2/CH4/N2O factors x GWP (IPCC AR6)."""

GWP_AR6 = {"CO2": 1.0, "CH4": 27.9, "N2O": 273.0}  # AR6 WG1 Table 7.15, GWP100
# IPCC 2006 default stationary factors, kg gas per GJ (energy industries / commercial).
FACTORS = {
    "natural_gas": {"CO2": 56.1, "CH4": 0.001, "N2O": 0.0001},
    "diesel": {"CO2": 74.1, "CH4": 0.003, "N2O": 0.0006},
    "heavy_fuel_oil": {"CO2": 77.4, "CH4": 0.003, "N2O": 0.0006},
    "lpg": {"CO2": 63.1, "CH4": 0.001, "N2O": 0.0001},
    "coal_bituminous": {"CO2": 94.6, "CH4": 0.001, "N2O": 0.0015},
    "wood_pellets": {"CO2": 0.0, "CH4": 0.03, "N2O": 0.004},  # biogenic CO2 reported separately
}
BIOGENIC_CO2 = {"wood_pellets": 112.0}


def run(inputs: dict) -> dict:
    """inputs: {"fuels": [{"fuel", "energy_gj"}]}"""
    lines, total, biogenic = [], 0.0, 0.0
    for item in inputs.get("fuels", []):
        fuel, gj = item["fuel"], float(item["energy_gj"])
        factors = FACTORS[fuel]
        gases_t = {gas: gj * ef / 1000 for gas, ef in factors.items()}
        co2e = sum(t * GWP_AR6[gas] for gas, t in gases_t.items())
        bio = gj * BIOGENIC_CO2.get(fuel, 0.0) / 1000
        lines.append({"fuel": fuel, "energy_gj": gj, "tco2e": round(co2e, 3),
                      "gases_t": {g: round(v, 6) for g, v in gases_t.items()},
                      "biogenic_co2_t": round(bio, 3)})
        total += co2e
        biogenic += bio
    return {"lines": lines, "scope1_tco2e": round(total, 3),
            "biogenic_co2_t_outside_scopes": round(biogenic, 3)}
