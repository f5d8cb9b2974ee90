"""Check importer information duties under the EU Methane Regulation (EU) 2024/1787, Art. 27-28.

Importers of crude oil, natural gas and coal must report exporter MRV equivalence and, from
2030, the methane intensity of production, compared against the forthcoming maximum values.
"""

REQUIRED = ("exporter", "producer", "country_of_production", "mrv_equivalent",
            "methane_intensity_pct", "ogmp_level")
COMMODITIES = {"crude_oil", "natural_gas", "lng", "coal"}


def run(inputs: dict) -> dict:
    """inputs: {"year", "max_intensity_pct"?, "contracts": [{contract_id, commodity, ...}]}"""
    year = int(inputs["year"])
    max_intensity = inputs.get("max_intensity_pct")
    results = []
    for c in inputs.get("contracts", []):
        issues = [f"missing {f}" for f in REQUIRED if c.get(f) in (None, "")]
        if c.get("commodity") not in COMMODITIES:
            issues.append("commodity not covered by the regulation")
        if c.get("mrv_equivalent") is False and c.get("ogmp_level", 0) < 5:
            issues.append("no MRV equivalence and not OGMP 2.0 level 5")
        if year >= 2030 and max_intensity is not None and c.get("methane_intensity_pct") is not None:
            if float(c["methane_intensity_pct"]) > float(max_intensity):
                issues.append("methane intensity above maximum value")
        results.append({"contract_id": c["contract_id"], "issues": issues, "ok": not issues})
    return {"contracts": results, "all_compliant": all(r["ok"] for r in results)}
