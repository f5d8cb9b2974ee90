"""Consolidate entity-level inventories under equity share, financial or operational control."""

APPROACHES = {"equity_share", "financial_control", "operational_control"}


def included_share(entity: dict, approach: str) -> float:
    if approach == "equity_share":
        return float(entity["equity_pct"]) / 100
    flag = entity.get(approach, False)
    return 1.0 if flag else 0.0


def run(inputs: dict) -> dict:
    approach = inputs.get("approach", "operational_control")
    if approach not in APPROACHES:
        raise ValueError(f"approach must be one of {sorted(APPROACHES)}")
    totals = {"scope1": 0.0, "scope2_location": 0.0, "scope2_market": 0.0}
    entities = []
    for e in inputs.get("entities", []):
        share = included_share(e, approach)
        contrib = {k: float(e.get(k, 0.0)) * share for k in totals}
        for k, v in contrib.items():
            totals[k] += v
        entities.append({"entity": e["entity"], "share": share,
                         **{k: round(v, 2) for k, v in contrib.items()}})
    # Emissions from excluded controlled operations move to scope 3 (cat 13/15) in practice.
    excluded = [e["entity"] for e in entities if e["share"] == 0.0]
    return {"approach": approach, "entities": entities,
            "totals_tco2e": {k: round(v, 2) for k, v in totals.items()},
            "excluded_entities": excluded}
