"""Double materiality assessment per ESRS 1 chapter 3: impact and financial materiality."""

THRESHOLD = 3.0  # on a 1-5 scale


def impact_score(t: dict) -> float:
    severity = (t["scale"] + t["scope"] + t.get("irremediability", t["scale"])) / 3
    if t.get("actual", False):
        return severity  # actual impacts: likelihood does not apply
    if t.get("human_rights", False):
        return severity  # severity takes precedence over likelihood
    return (severity * t["likelihood"]) ** 0.5  # potential impacts: severity x likelihood


def financial_score(t: dict) -> float:
    return (t["magnitude"] * t["likelihood"]) ** 0.5


def run(inputs: dict) -> dict:
    results = []
    for topic in inputs.get("topics", []):
        impact = impact_score(topic["impact"]) if "impact" in topic else 0.0
        financial = financial_score(topic["financial"]) if "financial" in topic else 0.0
        results.append({
            "topic": topic["topic"],
            "impact_score": round(impact, 2),
            "financial_score": round(financial, 2),
            "impact_material": impact >= THRESHOLD,
            "financial_material": financial >= THRESHOLD,
            "material": impact >= THRESHOLD or financial >= THRESHOLD,
        })
    return {"topics": results, "material_topics": [r["topic"] for r in results if r["material"]]}
