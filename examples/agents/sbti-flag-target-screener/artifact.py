"""Screen whether a company must set a separate SBTi FLAG (forest, land and agriculture) target.

Required when FLAG emissions are >= 20% of total scope 1-3 emissions, or the company is in a
FLAG-designated sector; FLAG targets use a 3.03%/yr linear reduction and a no-deforestation
commitment by 2025.
"""

FLAG_SECTORS = {"food_production_agricultural", "food_production_animal", "food_beverage_processing",
                "food_staples_retailing", "forest_paper_products", "tobacco"}
FLAG_SECTOR_RATE = 0.0303


def run(inputs: dict) -> dict:
    """inputs: {"sector", "flag_emissions": {land_use_change, land_management, removals},
    "total_emissions_tco2e", "no_deforestation_commitment": bool}"""
    flag = inputs.get("flag_emissions", {})
    gross_flag = float(flag.get("land_use_change", 0)) + float(flag.get("land_management", 0))
    total = float(inputs["total_emissions_tco2e"])
    share = gross_flag / total if total else 0.0
    sector = inputs.get("sector") in FLAG_SECTORS
    required = sector or share >= 0.20
    issues = []
    if required and not inputs.get("no_deforestation_commitment"):
        issues.append("FLAG targets need a no-deforestation commitment with a 2025 target date")
    return {
        "flag_share": round(share, 3),
        "flag_sector": sector,
        "flag_target_required": required,
        "annual_reduction_rate": FLAG_SECTOR_RATE if required else None,
        "removals_tco2": float(flag.get("removals", 0)),
        "issues": issues,
    }
