"""Validate installation-level emissions data received from third-country operators."""

REQUIRED = ("installation_id", "country", "cn_code", "production_t", "direct_tco2e",
            "reporting_period", "monitoring_methodology")
# Plausible SEE ranges in tCO2e/t; values far outside suggest unit errors.
PLAUSIBLE_SEE = {"72": (0.3, 4.5), "76": (0.5, 20.0), "2523": (0.5, 1.2), "3102": (0.5, 4.0)}


def plausible_range(cn_code: str):
    for prefix in sorted(PLAUSIBLE_SEE, key=len, reverse=True):
        if cn_code.startswith(prefix):
            return PLAUSIBLE_SEE[prefix]
    return None


def run(inputs: dict) -> dict:
    issues = []
    record = inputs.get("record", {})
    for field in REQUIRED:
        if record.get(field) in (None, ""):
            issues.append({"field": field, "message": "missing"})
    if not issues:
        production = float(record["production_t"])
        if production <= 0:
            issues.append({"field": "production_t", "message": "must be positive"})
        else:
            see = float(record["direct_tco2e"]) / production
            bounds = plausible_range(str(record["cn_code"]))
            if bounds and not bounds[0] <= see <= bounds[1]:
                issues.append({"field": "direct_tco2e",
                               "message": f"SEE {see:.2f} outside plausible range {bounds}"})
        if record["monitoring_methodology"] not in ("EU-MRR", "CBAM-ANNEX-III", "NATIONAL-MRV"):
            issues.append({"field": "monitoring_methodology", "message": "not an accepted method"})
    return {"valid": not issues, "issues": issues}
