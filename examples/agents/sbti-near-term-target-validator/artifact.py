"""Pre-validate a near-term target against SBTi Corporate Net-Zero Standard criteria.

Checks: 5-10 year timeframe, 95% scope 1+2 boundary coverage, 4.2%/yr linear reduction for
1.5C (absolute contraction), and a scope 3 target covering 67% when scope 3 >= 40% of total.
"""

MIN_ANNUAL_RATE_1_5C = 0.042
MIN_ANNUAL_RATE_WB2C = 0.025


def run(inputs: dict) -> dict:
    """inputs: {"base_year", "target_year", "submission_year", "scope12_reduction": 0.42,
    "scope12_coverage": 0.95, "scope3_share": 0.7, "scope3_coverage": 0.67,
    "scope3_reduction": 0.25}"""
    issues = []
    base, target, submitted = (int(inputs[k]) for k in ("base_year", "target_year", "submission_year"))
    if not 5 <= target - submitted <= 10:
        issues.append("target year must be 5-10 years from submission")
    if base < 2015:
        issues.append("base year must be 2015 or later")
    years = target - base
    s12_rate = float(inputs["scope12_reduction"]) / years
    if s12_rate < MIN_ANNUAL_RATE_1_5C:
        issues.append(f"scope 1+2 linear rate {s12_rate:.2%}/yr below 4.2%/yr (1.5C)")
    if float(inputs.get("scope12_coverage", 0)) < 0.95:
        issues.append("scope 1+2 target must cover at least 95% of emissions")
    if float(inputs.get("scope3_share", 0)) >= 0.40:
        if float(inputs.get("scope3_coverage", 0)) < 0.67:
            issues.append("scope 3 target must cover at least 67% of scope 3 emissions")
        s3_rate = float(inputs.get("scope3_reduction", 0)) / years
        if s3_rate < MIN_ANNUAL_RATE_WB2C:
            issues.append(f"scope 3 linear rate {s3_rate:.2%}/yr below 2.5%/yr (well-below 2C)")
    return {"scope12_annual_rate": round(s12_rate, 4), "issues": issues, "passes": not issues,
            "ambition": "1.5C" if s12_rate >= MIN_ANNUAL_RATE_1_5C else "insufficient"}
