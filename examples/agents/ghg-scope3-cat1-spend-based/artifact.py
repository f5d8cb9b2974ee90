"""Scope 3 category 1 spend-based estimate with EEIO factors, deflated to the factor year."""

# kg CO2e per USD (purchaser price, base year 2019), illustrative USEEIO-style factors.
EEIO = {"steel_products": 0.92, "plastics_resins": 0.78, "chemicals": 0.61,
        "electronics": 0.22, "professional_services": 0.09, "it_services": 0.07,
        "paper_packaging": 0.54, "food_products": 0.68, "construction": 0.31}
CPI = {2019: 1.000, 2020: 1.012, 2021: 1.060, 2022: 1.145, 2023: 1.192, 2024: 1.228}
FX_USD = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27}


def run(inputs: dict) -> dict:
    """inputs: {"year", "spend": [{"category", "amount", "currency"}]}"""
    year = int(inputs["year"])
    deflator = CPI[2019] / CPI[year]
    by_category, unmapped = {}, []
    for line in inputs.get("spend", []):
        cat = line["category"]
        if cat not in EEIO:
            unmapped.append(cat)
            continue
        usd_2019 = float(line["amount"]) * FX_USD[line.get("currency", "USD")] * deflator
        by_category[cat] = by_category.get(cat, 0.0) + usd_2019 * EEIO[cat] / 1000
    return {
        "by_category_tco2e": {k: round(v, 2) for k, v in sorted(by_category.items())},
        "scope3_cat1_tco2e": round(sum(by_category.values()), 2),
        "unmapped_categories": sorted(set(unmapped)),
        "data_quality": "spend-based (secondary)",
    }
