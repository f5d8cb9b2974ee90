"""EU ETS installation emissions, standard methodology of the MRR (Reg. 2018/2066 Art. 24).

combustion: AD [t] x NCV [GJ/t] x EF [tCO2/GJ] x OF ; process: AD x EF x CF
Biomass fraction is zero-rated when sustainability criteria are met.
"""


def source_stream(s: dict) -> dict:
    ad = float(s["activity_t"])
    if s["kind"] == "combustion":
        co2 = ad * float(s["ncv_gj_per_t"]) * float(s["ef_tco2_per_gj"]) * float(s.get("oxidation", 1.0))
    elif s["kind"] == "process":
        co2 = ad * float(s["ef_tco2_per_t"]) * float(s.get("conversion", 1.0))
    else:
        raise ValueError(f"unknown source stream kind {s['kind']!r}")
    biomass = float(s.get("biomass_fraction", 0.0)) if s.get("biomass_sustainable", False) else 0.0
    return {"name": s["name"], "tier": s.get("tier"), "fossil_tco2": round(co2 * (1 - biomass), 3),
            "zero_rated_biomass_tco2": round(co2 * biomass, 3)}


def run(inputs: dict) -> dict:
    streams = [source_stream(s) for s in inputs.get("source_streams", [])]
    total = sum(s["fossil_tco2"] for s in streams)
    category = "A" if total <= 50_000 else "B" if total <= 500_000 else "C"
    return {"source_streams": streams, "verified_emissions_tco2": round(total),
            "installation_category": category,
            "allowances_to_surrender": round(total)}
