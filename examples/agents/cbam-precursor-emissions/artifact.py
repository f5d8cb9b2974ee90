"""Specific embedded emissions of complex goods including relevant precursors.

SEE_complex = (AttrEm_process + sum(M_precursor x SEE_precursor)) / AL_good
(Annex IV, point 3 of Regulation (EU) 2023/956)
"""


def see_complex(attributed_emissions_t: float, activity_level_t: float, precursors: list) -> float:
    if activity_level_t <= 0:
        raise ValueError("activity level (production in tonnes) must be positive")
    embedded_precursors = sum(float(p["mass_t"]) * float(p["see"]) for p in precursors)
    return (attributed_emissions_t + embedded_precursors) / activity_level_t


def run(inputs: dict) -> dict:
    """inputs: {"direct_t", "indirect_t", "production_t", "precursors": [{name, mass_t,
    see_direct, see_indirect}]}"""
    precursors = inputs.get("precursors", [])
    production = float(inputs["production_t"])
    direct = see_complex(float(inputs["direct_t"]), production,
                         [{"mass_t": p["mass_t"], "see": p["see_direct"]} for p in precursors])
    indirect = see_complex(float(inputs.get("indirect_t", 0.0)), production,
                           [{"mass_t": p["mass_t"], "see": p.get("see_indirect", 0.0)}
                            for p in precursors])
    return {
        "see_direct": round(direct, 4),
        "see_indirect": round(indirect, 4),
        "see_total": round(direct + indirect, 4),
        "precursor_count": len(precursors),
    }
