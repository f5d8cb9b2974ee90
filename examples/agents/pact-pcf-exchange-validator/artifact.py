"""Validate product footprints exchanged in the PACT (Pathfinder) data model v2."""

import re
import uuid

REQUIRED = ("id", "specVersion", "companyName", "companyIds", "productIds", "productCategoryCpc",
            "pcf", "created", "status")
PCF_REQUIRED = ("declaredUnit", "unitaryProductAmount", "pCfExcludingBiogenic", "fossilGhgEmissions",
                "referencePeriodStart", "referencePeriodEnd", "crossSectoralStandardsUsed",
                "boundaryProcessesDescription", "exemptedEmissionsPercent")
UNITS = {"liter", "kilogram", "cubic meter", "kilowatt hour", "megajoule", "ton kilometer",
         "square meter"}
URN = re.compile(r"^urn:[a-z0-9][a-z0-9-]{0,31}:.+$", re.I)


def run(inputs: dict) -> dict:
    fp, errors = inputs.get("footprint", {}), []
    errors += [f"missing {k}" for k in REQUIRED if k not in fp]
    pcf = fp.get("pcf", {})
    errors += [f"missing pcf.{k}" for k in PCF_REQUIRED if k not in pcf]
    try:
        uuid.UUID(str(fp.get("id")))
    except ValueError:
        errors.append("id must be a UUID")
    if not str(fp.get("specVersion", "")).startswith("2."):
        errors.append("specVersion must be 2.x")
    errors += [f"company id {c!r} is not a URN" for c in fp.get("companyIds", []) if not URN.match(c)]
    if pcf.get("declaredUnit") not in UNITS:
        errors.append("pcf.declaredUnit is not a PACT unit")
    if float(pcf.get("exemptedEmissionsPercent", 0)) > 5:
        errors.append("pcf.exemptedEmissionsPercent must be 0-5")
    if float(pcf.get("pCfExcludingBiogenic", 0)) < 0:
        errors.append("pcf.pCfExcludingBiogenic must be non-negative")
    return {"valid": not errors, "errors": errors}
