"""Aggregate import lines into a CBAM transitional-period quarterly report structure."""

from collections import defaultdict


def quarter_of(month: int) -> str:
    return f"Q{(month - 1) // 3 + 1}"


def run(inputs: dict) -> dict:
    """inputs: {"declarant_eori", "year", "quarter", "imports": [{cn_code, country, month,
    tonnes, direct_tco2e, indirect_tco2e, method}]}"""
    quarter = inputs["quarter"]
    goods = defaultdict(lambda: {"tonnes": 0.0, "direct_tco2e": 0.0, "indirect_tco2e": 0.0,
                                 "default_value_lines": 0, "lines": 0})
    skipped = 0
    for line in inputs.get("imports", []):
        if quarter_of(int(line["month"])) != quarter:
            skipped += 1
            continue
        g = goods[(line["cn_code"], line["country"])]
        g["tonnes"] += float(line["tonnes"])
        g["direct_tco2e"] += float(line["direct_tco2e"])
        g["indirect_tco2e"] += float(line.get("indirect_tco2e", 0.0))
        g["lines"] += 1
        g["default_value_lines"] += line.get("method") == "default"

    entries = []
    for (cn, country), g in sorted(goods.items()):
        share_default = g["default_value_lines"] / g["lines"]
        entries.append({"cn_code": cn, "country_of_origin": country,
                        "net_mass_t": round(g["tonnes"], 3),
                        "direct_tco2e": round(g["direct_tco2e"], 3),
                        "indirect_tco2e": round(g["indirect_tco2e"], 3),
                        "default_values_share": round(share_default, 2)})
    return {"declarant_eori": inputs["declarant_eori"], "period": f"{inputs['year']}-{quarter}",
            "goods": entries, "lines_outside_period": skipped}
