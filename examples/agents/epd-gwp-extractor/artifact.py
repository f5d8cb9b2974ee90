"""Extract GWP results per EN 15804+A2 module from the text of an Environmental Product Declaration."""

import re

MODULES = ("A1-A3", "A4", "A5", "B1", "C1", "C2", "C3", "C4", "D")
ROW = re.compile(r"^\s*(GWP-(?:total|fossil|biogenic|luluc))\b(.*)$", re.I | re.M)
VALUE = re.compile(r"^(?:[-+]?\d[\d,]*(?:\.\d+)?(?:E[-+]?\d+)?|ND|MND)$", re.I)
UNIT = re.compile(r"declared unit\s*[:=]\s*(.+)", re.I)


def parse_number(token: str):
    if token.upper() in ("ND", "MND"):
        return None
    return float(token.replace(",", ""))


def run(inputs: dict) -> dict:
    """inputs: {"text": str, "modules": [column headers in table order]}"""
    text = inputs["text"]
    modules = inputs.get("modules", list(MODULES))
    indicators = {}
    for name, rest in ROW.findall(text):
        tokens = [t for t in rest.split() if VALUE.match(t)]  # drops unit words like "kg CO2 eq"
        if len(tokens) != len(modules):
            continue  # row does not match the header; leave for manual review
        indicators[name.upper().replace("GWP-", "GWP_")] = dict(zip(modules, map(parse_number, tokens)))
    unit = UNIT.search(text)
    total = indicators.get("GWP_TOTAL", {})
    return {"declared_unit": unit.group(1).strip() if unit else None,
            "indicators_kgco2e": indicators,
            "gwp_a1_a3_kgco2e": total.get("A1-A3"),
            "needs_review": "GWP_TOTAL" not in indicators}
