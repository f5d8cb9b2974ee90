"""Map internal ESRS datapoints to ESRS XBRL taxonomy element names with units."""

TAXONOMY = {
    "scope1_gross": ("esrs:GrossScope1GreenhouseGasEmissions", "tCO2e"),
    "scope2_location": ("esrs:GrossLocationBasedScope2GreenhouseGasEmissions", "tCO2e"),
    "scope2_market": ("esrs:GrossMarketBasedScope2GreenhouseGasEmissions", "tCO2e"),
    "scope3_gross": ("esrs:GrossScope3GreenhouseGasEmissions", "tCO2e"),
    "total_energy_consumption_mwh": ("esrs:EnergyConsumptionRelatedToOwnOperations", "MWh"),
    "renewable_share": ("esrs:PercentageOfRenewableSourcesInTotalEnergyConsumption", "pure"),
    "internal_carbon_price": ("esrs:InternalCarbonPrice", "EUR/tCO2e"),
}


def run(inputs: dict) -> dict:
    """inputs: {"entity_lei", "period_end", "datapoints": {name: value}}"""
    facts, unmapped = [], []
    for name, value in sorted(inputs.get("datapoints", {}).items()):
        if name not in TAXONOMY:
            unmapped.append(name)
            continue
        element, unit = TAXONOMY[name]
        facts.append({
            "concept": element,
            "value": value,
            "unit": unit,
            "decimals": 2 if unit == "pure" else 0,
            "context": {"entity": inputs["entity_lei"], "period_end": inputs["period_end"]},
        })
    return {"facts": facts, "unmapped": unmapped}
