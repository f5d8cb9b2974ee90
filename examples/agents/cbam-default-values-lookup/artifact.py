"""CBAM default values with the definitive-period mark-up (Implementing Reg. 2023/1773 style).

Default SEE values per CN code and country of origin; the mark-up rises from 10% (2026)
to 20% (2027) and 30% (2028 onwards) to discourage reliance on defaults.

Observability through the agent SDK: the table lookup is a tool span (``execute_tool
default_values_table``); answers are memoised per (CN code, country, year) and each call reports
a cache hit or miss.
"""

from agent_sdk.observability import current

DEFAULTS = {  # (cn_code, country) -> tCO2e/t ; "*" is the global fallback
    ("72081000", "CN"): 2.30,
    ("72081000", "IN"): 2.65,
    ("72081000", "TR"): 1.45,
    ("72081000", "*"): 2.10,
    ("76011000", "CN"): 16.2,
    ("76011000", "*"): 8.60,
    ("25231000", "*"): 0.92,
    ("31021010", "*"): 2.05,
}

MARKUP_BY_YEAR = {2026: 0.10, 2027: 0.20}


def markup(year: int) -> float:
    if year < 2026:
        return 0.0
    return MARKUP_BY_YEAR.get(year, 0.30)


CACHE_SIZE = 1024
_answers: dict[tuple[str, str, int], dict] = {}


def run(inputs: dict) -> dict:
    cn, country, year = inputs["cn_code"], inputs.get("country", "*"), int(inputs["year"])
    obs = current()
    key = (cn, country, year)
    if key in _answers:
        obs.cache(hit=True)
        return dict(_answers[key])
    obs.cache(hit=False)
    with obs.tool_call("default_values_table"):
        answer = lookup(cn, country, year)
    if len(_answers) >= CACHE_SIZE:
        _answers.clear()
    _answers[key] = answer
    return dict(answer)


def lookup(cn: str, country: str, year: int) -> dict:
    key = (cn, country) if (cn, country) in DEFAULTS else (cn, "*")
    if key not in DEFAULTS:
        return {"cn_code": cn, "found": False}
    base = DEFAULTS[key]
    m = markup(year)
    return {
        "cn_code": cn,
        "country": key[1],
        "found": True,
        "default_see": base,
        "markup": m,
        "see_with_markup": round(base * (1 + m), 4),
    }
