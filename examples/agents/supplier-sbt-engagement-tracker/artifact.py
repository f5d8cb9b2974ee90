"""Track progress against an SBTi supplier-engagement target.

Share of scope 3 (cat. 1 and 4) emissions from suppliers with validated science-based targets,
compared against the linear path to the target share (commonly 67% within five years).
"""


def run(inputs: dict) -> dict:
    """inputs: {"suppliers": [{name, tco2e, sbt_status: validated|committed|none}],
    "target_share": 0.67, "base_year", "target_year", "current_year", "base_share"}"""
    suppliers = inputs.get("suppliers", [])
    total = sum(float(s["tco2e"]) for s in suppliers)
    validated = sum(float(s["tco2e"]) for s in suppliers if s["sbt_status"] == "validated")
    committed = sum(float(s["tco2e"]) for s in suppliers if s["sbt_status"] == "committed")
    share = validated / total if total else 0.0
    base_y, target_y = int(inputs["base_year"]), int(inputs["target_year"])
    year = int(inputs["current_year"])
    base_share, target = float(inputs.get("base_share", 0.0)), float(inputs.get("target_share", 0.67))
    progress = min(1.0, max(0.0, (year - base_y) / (target_y - base_y)))
    expected = base_share + (target - base_share) * progress
    top = sorted((s for s in suppliers if s["sbt_status"] == "none"),
                 key=lambda s: -float(s["tco2e"]))[:10]
    return {"validated_share": round(share, 3), "committed_share": round(committed / total, 3) if total else 0.0,
            "expected_share": round(expected, 3), "on_track": share >= expected,
            "priority_suppliers": [s["name"] for s in top]}
