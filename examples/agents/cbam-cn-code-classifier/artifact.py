"""Classify CN codes into CBAM Annex I sectors (or out of scope)."""

# Longest-prefix match against Annex I headings.
ANNEX_I_PREFIXES = {
    "2507": "cement", "2523": "cement",
    "2716": "electricity",
    "2808": "fertilisers", "2814": "fertilisers", "2834": "fertilisers", "3102": "fertilisers",
    "3105": "fertilisers",
    "2601": "iron_steel", "7201": "iron_steel", "7202": "iron_steel", "7203": "iron_steel",
    "72": "iron_steel", "7301": "iron_steel", "7308": "iron_steel", "7318": "iron_steel",
    "7326": "iron_steel",
    "7601": "aluminium", "7603": "aluminium", "7604": "aluminium", "7606": "aluminium",
    "7616": "aluminium",
    "280410": "hydrogen",
}
EXCLUDED = {"72044100"}  # e.g. ferrous waste and scrap is not a CBAM good


def classify(cn_code: str) -> str | None:
    code = "".join(ch for ch in cn_code if ch.isdigit())
    if code in EXCLUDED:
        return None
    for length in range(len(code), 1, -1):
        sector = ANNEX_I_PREFIXES.get(code[:length])
        if sector:
            return sector
    return None


def run(inputs: dict) -> dict:
    results = {cn: classify(cn) for cn in inputs.get("cn_codes", [])}
    return {
        "sectors": results,
        "in_scope": sorted(cn for cn, s in results.items() if s),
        "out_of_scope": sorted(cn for cn, s in results.items() if not s),
    }
