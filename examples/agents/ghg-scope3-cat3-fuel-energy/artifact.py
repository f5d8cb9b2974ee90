"""Scope 3 category 3: fuel- and energy-related activities not in scope 1 or 2.

(a) well-to-tank of purchased fuels, (b) WTT of purchased electricity,
(c) transmission and distribution losses.
"""

WTT_FUEL_KG_PER_GJ = {"natural_gas": 10.4, "diesel": 17.3, "petrol": 18.0, "lpg": 8.7}
WTT_ELEC_KG_PER_MWH = {"DE": 52.0, "FR": 12.0, "PL": 68.0, "GB": 45.0}
TD_LOSS_SHARE = {"DE": 0.041, "FR": 0.062, "PL": 0.068, "GB": 0.078}
GRID_KG_PER_MWH = {"DE": 380.0, "FR": 56.0, "PL": 662.0, "GB": 207.0}


def run(inputs: dict) -> dict:
    fuels = inputs.get("fuels_gj", {})
    elec = inputs.get("electricity_mwh", {})
    wtt_fuel = sum(float(gj) * WTT_FUEL_KG_PER_GJ[f] for f, gj in fuels.items()) / 1000
    wtt_elec = sum(float(m) * WTT_ELEC_KG_PER_MWH[c] for c, m in elec.items()) / 1000
    td_losses = sum(
        float(m) * TD_LOSS_SHARE[c] / (1 - TD_LOSS_SHARE[c]) * GRID_KG_PER_MWH[c]
        for c, m in elec.items()
    ) / 1000
    return {
        "wtt_fuels_tco2e": round(wtt_fuel, 3),
        "wtt_electricity_tco2e": round(wtt_elec, 3),
        "td_losses_tco2e": round(td_losses, 3),
        "scope3_cat3_tco2e": round(wtt_fuel + wtt_elec + td_losses, 3),
    }
