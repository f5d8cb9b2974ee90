"""Assemble an EUDR due diligence statement payload for submission to the EU Information System."""

import hashlib
import json

ACTIVITIES = {"import", "export", "domestic"}


def run(inputs: dict) -> dict:
    """inputs: {"operator": {name, eori, country}, "activity", "products": [{hs_code,
    description, net_mass_kg, country_of_production, plot_ids}], "plots": {id: geojson},
    "risk_assessment": {negligible: bool}}"""
    if inputs["activity"] not in ACTIVITIES:
        raise ValueError("activity must be import, export or domestic")
    if not inputs.get("risk_assessment", {}).get("negligible"):
        return {"submittable": False, "reason": "risk not negligible; mitigation required first"}
    commodities = []
    for p in inputs["products"]:
        missing = [pid for pid in p["plot_ids"] if pid not in inputs.get("plots", {})]
        if missing:
            return {"submittable": False, "reason": f"missing geolocation for plots {missing}"}
        commodities.append({
            "hsHeading": p["hs_code"][:4], "descriptionOfGoods": p["description"],
            "netWeightKg": p["net_mass_kg"], "countryOfProduction": p["country_of_production"],
            "geoLocations": [inputs["plots"][pid] for pid in p["plot_ids"]],
        })
    statement = {"operator": inputs["operator"], "activityType": inputs["activity"].upper(),
                 "commodities": commodities, "complianceDeclaration": True}
    digest = hashlib.sha256(json.dumps(statement, sort_keys=True).encode()).hexdigest()
    return {"submittable": True, "statement": statement, "payload_sha256": digest}
