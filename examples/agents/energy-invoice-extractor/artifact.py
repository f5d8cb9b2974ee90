"""Extract consumption, billing period and meter data from utility invoice text (OCR output)."""

import re
from datetime import datetime

KWH = re.compile(r"(?:consumption|verbrauch|total)\D{0,30}?([\d.,]+)\s*(kWh|MWh)", re.I)
PERIOD = re.compile(r"(\d{2}[./]\d{2}[./]\d{4})\s*(?:-|to|bis)\s*(\d{2}[./]\d{2}[./]\d{4})", re.I)
METER = re.compile(r"(?:meter|zähler|MPAN|MPRN)\s*(?:no\.?|nr\.?|id)?\s*[:#]?\s*([A-Z0-9]{6,21})", re.I)


def number(text: str) -> float:
    if "," in text and "." in text:
        text = text.replace(".", "").replace(",", ".") if text.rfind(",") > text.rfind(".") else text.replace(",", "")
    elif "," in text:
        text = text.replace(",", ".") if len(text.split(",")[-1]) != 3 else text.replace(",", "")
    return float(text)


def parse_date(text: str) -> str:
    return datetime.strptime(text.replace("/", "."), "%d.%m.%Y").date().isoformat()


def run(inputs: dict) -> dict:
    text = inputs["text"]
    kwh = KWH.search(text)
    period = PERIOD.search(text)
    meter = METER.search(text)
    value = None
    if kwh:
        value = number(kwh.group(1)) * (1000 if kwh.group(2).lower() == "mwh" else 1)
    result = {"consumption_kwh": value,
              "period_start": parse_date(period.group(1)) if period else None,
              "period_end": parse_date(period.group(2)) if period else None,
              "meter_id": meter.group(1) if meter else None}
    result["complete"] = all(v is not None for v in result.values())
    return result
