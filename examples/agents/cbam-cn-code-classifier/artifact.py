"""Classify CN codes into CBAM Annex I sectors (or out of scope).

Observability through the agent SDK: the classification is a tool span (``execute_tool
classify_cn_code``) and each code is looked up in a bounded in-process cache first, reported as
a hit or miss (``agent_cache_lookups_total``, ``agent_cache_hit_ratio`` on the host's /metrics).
"""

from agent_sdk.observability import current

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


CACHE_SIZE = 4096
_cache: dict[str, str | None] = {}


def classify_cached(cn_code: str) -> str | None:
    obs = current()
    if cn_code in _cache:
        obs.cache(hit=True)
        return _cache[cn_code]
    obs.cache(hit=False)
    if len(_cache) >= CACHE_SIZE:
        _cache.clear()
    _cache[cn_code] = sector = classify(cn_code)
    return sector


def run(inputs: dict) -> dict:
    with current().tool_call("classify_cn_code"):
        results = {cn: classify_cached(cn) for cn in inputs.get("cn_codes", [])}
    return {
        "sectors": results,
        "in_scope": sorted(cn for cn, s in results.items() if s),
        "out_of_scope": sorted(cn for cn, s in results.items() if not s),
    }
