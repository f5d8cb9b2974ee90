"""Determine ESRS phase-in reliefs (ESRS 1 Appendix C) available to an undertaking."""


def run(inputs: dict) -> dict:
    """inputs: {"employees", "first_reporting_year", "reporting_year"}"""
    employees = int(inputs["employees"])
    year_index = int(inputs["reporting_year"]) - int(inputs["first_reporting_year"]) + 1
    reliefs = []
    if year_index == 1:
        reliefs.append({"datapoint": "E1-9 anticipated financial effects",
                        "relief": "may omit in first year"})
    elif year_index <= 3:
        reliefs.append({"datapoint": "E1-9 anticipated financial effects",
                        "relief": "qualitative disclosures only"})
    if employees < 750 and year_index == 1:
        reliefs.append({"datapoint": "E1-6 scope 3 and total GHG emissions",
                        "relief": "may omit in first year"})
    if employees < 750 and year_index <= 2:
        reliefs.append({"datapoint": "ESRS E4, S2, S3, S4", "relief": "may omit"})
    if year_index <= 3:
        reliefs.append({"datapoint": "value chain information",
                        "relief": "explain efforts where data cannot be obtained"})
    return {"year_index": year_index, "under_750_employees": employees < 750, "reliefs": reliefs}
