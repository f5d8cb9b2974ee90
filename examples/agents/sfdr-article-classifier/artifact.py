"""Indicative SFDR product classification (Article 6, 8 or 9) from product characteristics.

This is a pre-screen for the product governance committee, not a legal determination.
"""


def run(inputs: dict) -> dict:
    """inputs: {"sustainable_investment_objective": bool, "promotes_es_characteristics": bool,
    "sustainable_investment_share": float, "good_governance_check": bool,
    "considers_pai": bool, "dnsh_assessed": bool, "binding_elements": [str]}"""
    reasons = []
    si_share = float(inputs.get("sustainable_investment_share", 0.0))
    governance = inputs.get("good_governance_check", False)
    if inputs.get("sustainable_investment_objective"):
        if si_share >= 0.9 and inputs.get("dnsh_assessed") and governance:
            return {"article": 9, "reasons": ["objective met by sustainable investments only "
                                              "(cash/hedging excepted), DNSH and governance assessed"]}
        reasons.append("objective stated but sustainable share, DNSH or governance insufficient for Art. 9")
    if inputs.get("promotes_es_characteristics") and governance and inputs.get("binding_elements"):
        if si_share > 0:
            reasons.append(f"Art. 8 with {si_share:.0%} committed sustainable investments")
        else:
            reasons.append("Art. 8 promoting E/S characteristics without sustainable investments")
        return {"article": 8, "reasons": reasons}
    if inputs.get("promotes_es_characteristics"):
        reasons.append("E/S promotion lacks binding elements or good-governance check")
    reasons.append("defaults to Art. 6 (sustainability risk disclosure only)")
    return {"article": 6, "reasons": reasons}
