"""Methane emissions and intensity for oil and gas assets, OGMP 2.0 reporting levels.

intensity = CH4 emitted [m3] / natural gas marketed [m3]; EU Methane Regulation 2024/1787
requires source-level (level 4) and site-level (level 5) measurement for operated assets.
"""

CH4_DENSITY_KG_PER_M3 = 0.678
GWP100_CH4_FOSSIL = 29.8


def run(inputs: dict) -> dict:
    """inputs: {"sources": [{asset, ch4_t, reporting_level}], "gas_marketed_mcm"}"""
    sources = inputs.get("sources", [])
    ch4_t = sum(float(s["ch4_t"]) for s in sources)
    marketed_m3 = float(inputs["gas_marketed_mcm"]) * 1e6
    ch4_m3 = ch4_t * 1000 / CH4_DENSITY_KG_PER_M3
    levels = [int(s.get("reporting_level", 1)) for s in sources]
    gold = bool(levels) and min(levels) >= 4
    return {
        "ch4_t": round(ch4_t, 2),
        "co2e_t": round(ch4_t * GWP100_CH4_FOSSIL, 1),
        "methane_intensity_pct": round(100 * ch4_m3 / marketed_m3, 4) if marketed_m3 else None,
        "min_reporting_level": min(levels) if levels else None,
        "ogmp_gold_standard_pathway": gold,
        "below_0_2pct_target": marketed_m3 > 0 and ch4_m3 / marketed_m3 < 0.002,
    }
