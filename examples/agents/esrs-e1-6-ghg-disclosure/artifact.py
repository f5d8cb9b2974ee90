"""Build the ESRS E1-6 gross GHG emissions table and GHG intensity per net revenue."""


def run(inputs: dict) -> dict:
    """inputs: tCO2e values scope1, scope2_location, scope2_market, scope3 (dict by category),
    net_revenue_eur, base_year (dict with the same keys)."""
    s1 = float(inputs["scope1"])
    s2_lb, s2_mb = float(inputs["scope2_location"]), float(inputs["scope2_market"])
    s3 = {int(k): float(v) for k, v in inputs.get("scope3", {}).items()}
    s3_total = sum(s3.values())
    total_lb, total_mb = s1 + s2_lb + s3_total, s1 + s2_mb + s3_total
    revenue_m = float(inputs["net_revenue_eur"]) / 1e6
    table = {
        "scope1_gross_tco2e": s1,
        "scope1_regulated_ets_pct": inputs.get("scope1_ets_share_pct", 0.0),
        "scope2_location_tco2e": s2_lb,
        "scope2_market_tco2e": s2_mb,
        "scope3_by_category_tco2e": dict(sorted(s3.items())),
        "scope3_total_tco2e": s3_total,
        "total_location_tco2e": total_lb,
        "total_market_tco2e": total_mb,
        "intensity_location_tco2e_per_meur": round(total_lb / revenue_m, 3),
        "intensity_market_tco2e_per_meur": round(total_mb / revenue_m, 3),
    }
    base = inputs.get("base_year")
    if base:
        base_total = base["scope1"] + base["scope2_market"] + sum(base.get("scope3", {}).values())
        table["change_vs_base_year_pct"] = round(100 * (total_mb - base_total) / base_total, 1)
    return table
