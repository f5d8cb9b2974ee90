"""Resolve the best emission factor for an activity from a versioned factor library.

Preference: exact region and year, then the region's nearest earlier vintage, then the global
factor; each result carries its source and fallback path for audit.
"""

LIBRARY = [  # (activity, region, year, kg CO2e per unit, unit, source)
    ("electricity", "DE", 2023, 0.380, "kWh", "UBA 2024"),
    ("electricity", "DE", 2022, 0.434, "kWh", "UBA 2023"),
    ("electricity", "GB", 2024, 0.207, "kWh", "DESNZ 2024"),
    ("electricity", "GLOBAL", 2022, 0.475, "kWh", "IEA 2023"),
    ("natural_gas", "GB", 2024, 0.183, "kWh", "DESNZ 2024"),
    ("natural_gas", "GLOBAL", 2006, 0.202, "kWh", "IPCC 2006"),
    ("diesel", "GB", 2024, 2.512, "litre", "DESNZ 2024"),
    ("diesel", "GLOBAL", 2006, 2.680, "litre", "IPCC 2006"),
]


def resolve(activity: str, region: str, year: int) -> dict | None:
    candidates = [f for f in LIBRARY if f[0] == activity]
    for scope, label in ((region, "regional"), ("GLOBAL", "global-fallback")):
        vintages = sorted((f for f in candidates if f[1] == scope and f[2] <= year), key=lambda f: -f[2])
        if vintages:
            f = vintages[0]
            path = label if f[2] == year or label != "regional" else "regional-older-vintage"
            return {"activity": activity, "region": f[1], "year": f[2], "factor": f[3],
                    "unit": f[4], "source": f[5], "resolution": path}
    return None


def run(inputs: dict) -> dict:
    results = [resolve(q["activity"], q.get("region", "GLOBAL"), int(q["year"]))
               for q in inputs.get("queries", [])]
    return {"factors": results, "unresolved": sum(1 for r in results if r is None)}
