"""Sectoral Decarbonization Approach (SDA) intensity target for homogeneous sectors.

Company intensity converges to the sector pathway: I_c(t) = d * p(t) * m(t) + I_s(t), where
d = I_c(base) - I_s(base), p(t) = (I_s(t) - I_s(2050)) / (I_s(base) - I_s(2050)) and m(t)
reflects the company's market share change.
"""

SECTOR_PATHWAYS = {  # intensity per unit of output, linearly interpolated between points
    "cement": {2020: 0.60, 2030: 0.46, 2050: 0.12},          # tCO2/t cementitious
    "power": {2020: 0.46, 2030: 0.14, 2050: 0.0},            # tCO2/MWh
    "steel": {2020: 1.85, 2030: 1.36, 2050: 0.14},           # tCO2/t crude steel
}


def sector_intensity(sector: str, year: int) -> float:
    path = SECTOR_PATHWAYS[sector]
    years = sorted(path)
    for a, b in zip(years, years[1:]):
        if a <= year <= b:
            return path[a] + (path[b] - path[a]) * (year - a) / (b - a)
    return path[years[0]] if year < years[0] else path[years[-1]]


def run(inputs: dict) -> dict:
    """inputs: {"sector", "base_year", "target_year", "company_intensity_base",
    "market_share_factor": 1.0}"""
    sector, base, target = inputs["sector"], int(inputs["base_year"]), int(inputs["target_year"])
    ic_base = float(inputs["company_intensity_base"])
    is_base, is_target, is_2050 = (sector_intensity(sector, y) for y in (base, target, 2050))
    d = ic_base - is_base
    p = (is_target - is_2050) / (is_base - is_2050) if is_base != is_2050 else 0.0
    m = float(inputs.get("market_share_factor", 1.0))
    target_intensity = d * p * m + is_target
    return {"sector_intensity_target_year": round(is_target, 4),
            "company_target_intensity": round(target_intensity, 4),
            "reduction_pct": round(100 * (1 - target_intensity / ic_base), 1)}
