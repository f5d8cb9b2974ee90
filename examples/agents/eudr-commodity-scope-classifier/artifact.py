"""Decide whether HS codes fall under EUDR Annex I relevant commodities and products."""

ANNEX_I = {  # HS heading/subheading prefix -> commodity
    "0102": "cattle", "0201": "cattle", "0202": "cattle", "4101": "cattle", "4104": "cattle",
    "4107": "cattle",
    "1801": "cocoa", "1803": "cocoa", "1804": "cocoa", "1805": "cocoa", "1806": "cocoa",
    "0901": "coffee",
    "1207 10": "oil_palm", "1511": "oil_palm", "1513 21": "oil_palm", "3823": "oil_palm",
    "4001": "rubber", "4011": "rubber", "4015": "rubber",
    "1201": "soya", "1208 10": "soya", "1507": "soya", "2304": "soya",
    "44": "wood", "47": "wood", "48": "wood", "9403 30": "wood", "9403 60": "wood",
}
EXEMPT_PREFIXES = ("4707",)  # recovered (waste and scrap) paper is out of scope


def classify(hs: str) -> str | None:
    digits = "".join(c for c in hs if c.isdigit())
    if digits.startswith(EXEMPT_PREFIXES):
        return None
    best = None
    for prefix, commodity in ANNEX_I.items():
        p = prefix.replace(" ", "")
        if digits.startswith(p) and (best is None or len(p) > best[0]):
            best = (len(p), commodity)
    return best[1] if best else None


def run(inputs: dict) -> dict:
    results = {hs: classify(hs) for hs in inputs.get("hs_codes", [])}
    return {"classification": results,
            "in_scope": sorted(h for h, c in results.items() if c),
            "commodities": sorted({c for c in results.values() if c})}
