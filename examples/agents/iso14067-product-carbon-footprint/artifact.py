"""Cradle-to-gate product carbon footprint (ISO 14067) from a bill of materials and energy use."""

MATERIAL_EF = {  # kg CO2e per kg material, cradle-to-gate
    "steel_bof": 2.3, "steel_eaf": 0.7, "aluminium_primary": 16.5, "aluminium_recycled": 0.6,
    "pp": 1.9, "abs": 3.5, "pet": 2.2, "glass": 0.9, "copper": 3.8, "cardboard": 0.9,
}
ENERGY_EF = {"electricity_grid": 0.38, "electricity_renewable": 0.02, "natural_gas_kwh": 0.202}


def run(inputs: dict) -> dict:
    """inputs: {"declared_unit", "bom": [{material, kg, recycled_share?}],
    "energy_kwh": {source: kWh}, "transport_tkm": float, "biogenic_kg": float}"""
    materials = 0.0
    for item in inputs.get("bom", []):
        materials += float(item["kg"]) * MATERIAL_EF[item["material"]]
    energy = sum(float(kwh) * ENERGY_EF[src] for src, kwh in inputs.get("energy_kwh", {}).items())
    transport = float(inputs.get("transport_tkm", 0.0)) * 0.078  # road HGV kg CO2e per tkm
    fossil = materials + energy + transport
    return {
        "declared_unit": inputs.get("declared_unit", "1 piece"),
        "system_boundary": "cradle-to-gate",
        "materials_kgco2e": round(materials, 3),
        "manufacturing_energy_kgco2e": round(energy, 3),
        "inbound_transport_kgco2e": round(transport, 3),
        "pcf_excluding_biogenic_kgco2e": round(fossil, 3),
        "biogenic_carbon_content_kgco2": round(float(inputs.get("biogenic_kg", 0.0)), 3),
        "hotspot": max((("materials", materials), ("energy", energy), ("transport", transport)),
                       key=lambda x: x[1])[0],
    }
