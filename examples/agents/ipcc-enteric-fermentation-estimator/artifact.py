"""Enteric fermentation CH4 from livestock, IPCC 2019 Refinement Tier 1 emission factors."""

# kg CH4 per head per year (Tier 1, Vol. 4 Ch. 10, Table 10.11), by productivity system.
EF_TIER1 = {
    ("dairy_cattle", "high"): 126, ("dairy_cattle", "low"): 93,
    ("other_cattle", "high"): 52, ("other_cattle", "low"): 60,
    ("buffalo", "any"): 76, ("sheep", "high"): 9, ("sheep", "low"): 5,
    ("goats", "any"): 9, ("swine", "high"): 1.5, ("swine", "low"): 1.0,
    ("horses", "any"): 18,
}
GWP100_CH4_BIOGENIC = 27.0  # IPCC AR6, non-fossil methane


def factor(species: str, system: str) -> float:
    return EF_TIER1.get((species, system), EF_TIER1.get((species, "any")))


def run(inputs: dict) -> dict:
    """inputs: {"herds": [{species, system: high|low, head, days_on_farm?}]}"""
    rows, ch4 = [], 0.0
    for h in inputs.get("herds", []):
        ef = factor(h["species"], h.get("system", "high"))
        if ef is None:
            raise ValueError(f"no Tier 1 factor for {h['species']}/{h.get('system')}")
        heads = float(h["head"]) * float(h.get("days_on_farm", 365)) / 365
        t = heads * ef / 1000
        ch4 += t
        rows.append({"species": h["species"], "ch4_t": round(t, 3)})
    return {"herds": rows, "ch4_t": round(ch4, 3),
            "co2e_t": round(ch4 * GWP100_CH4_BIOGENIC, 1)}
