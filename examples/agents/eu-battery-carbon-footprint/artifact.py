"""Carbon footprint of EV and industrial batteries per EU Battery Regulation (EU) 2023/1542 Art. 7.

Declared per functional unit: kg CO2e per kWh of total energy delivered over the service life
(capacity x cycles x depth of discharge), split across life-cycle stages; end of life is
declared separately.
"""

STAGES = ("raw_material_acquisition", "main_production", "distribution", "end_of_life")
CLASS_THRESHOLDS = [(60, "A"), (75, "B"), (90, "C"), (110, "D")]  # illustrative kg/kWh bands


def run(inputs: dict) -> dict:
    """inputs: {"capacity_kwh", "cycles", "depth_of_discharge", "stages_kgco2e": {stage: kg},
    "grid_kg_per_kwh_production"}"""
    stages = inputs["stages_kgco2e"]
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown life-cycle stages {sorted(unknown)}")
    lifetime_kwh = float(inputs["capacity_kwh"]) * float(inputs["cycles"]) * float(inputs.get("depth_of_discharge", 0.8))
    total_kg = sum(float(v) for v in stages.values())
    per_kwh = {s: round(float(stages.get(s, 0.0)) / lifetime_kwh, 4) for s in STAGES}
    footprint = total_kg / lifetime_kwh
    per_kwh_capacity = total_kg / float(inputs["capacity_kwh"])
    performance_class = next((c for limit, c in CLASS_THRESHOLDS if per_kwh_capacity <= limit), "E")
    return {
        "functional_unit_kwh": round(lifetime_kwh),
        "carbon_footprint_kgco2e_per_kwh": round(footprint, 4),
        "by_stage_kgco2e_per_kwh": per_kwh,
        "kgco2e_per_kwh_capacity": round(per_kwh_capacity, 1),
        "performance_class": performance_class,
    }
