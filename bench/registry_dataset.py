"""The registry bench's data: a deterministic, realistic climate-compliance catalogue (agents,
versions, certificates) and the weighted search query mix."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

SCOPES = [
    "CBAM", "CSRD", "ESRS", "EU-Taxonomy", "SFDR", "GHG-Protocol", "ISSB", "IFRS-S2", "TCFD",
    "SEC-Climate", "CDP", "SBTi", "EUDR", "CSDDD", "UK-SECR", "California-SB253", "TNFD", "PCAF",
]  # fmt: skip
TEAMS = [
    "cbam-team", "csrd-reporting", "scope3-analytics", "taxonomy-alignment", "supply-chain",
    "financed-emissions", "energy-data", "water-risk", "biodiversity", "disclosure-automation",
    "carbon-accounting", "climate-risk", "product-footprint", "esg-data-platform",
]  # fmt: skip
TYPES = [
    "calculator", "validator", "extractor", "reporter", "classifier", "forecaster",
    "reconciler", "auditor", "connector", "advisor",
]  # fmt: skip
SUBJECTS = [
    "Steel", "Cement", "Aluminium", "Fertiliser", "Hydrogen", "Electricity", "Scope 1",
    "Scope 2 Market-Based", "Scope 2 Location-Based", "Scope 3 Purchased Goods",
    "Scope 3 Business Travel", "Scope 3 Employee Commuting", "Upstream Transport",
    "Downstream Distribution", "Methane Leak", "Refrigerant", "Fleet Fuel", "Data Centre Energy",
    "Water Withdrawal", "Deforestation Risk", "Biodiversity Impact", "Double Materiality",
    "Transition Plan", "Physical Climate Risk", "Internal Carbon Price", "Supplier Survey",
    "Invoice", "Utility Bill", "Renewable Energy Certificate", "Green Bond", "Taxonomy Alignment",
    "Financed Emissions", "Product Carbon Footprint", "Waste Stream", "Heat Pump Retrofit",
    "Embedded Emissions", "Carbon Removal", "Land Use Change", "Shipping Fuel", "Aviation Fuel",
]  # fmt: skip
FUNCTIONS = {
    "calculator": ["Emissions Calculator", "Intensity Calculator", "Footprint Estimator"],
    "validator": ["Data Validator", "Evidence Checker", "Completeness Validator"],
    "extractor": ["Evidence Extractor", "Document Parser", "Activity Data Extractor"],
    "reporter": ["Disclosure Drafter", "Report Generator", "XBRL Tagger"],
    "classifier": ["Activity Classifier", "Eligibility Classifier", "Risk Classifier"],
    "forecaster": ["Trajectory Forecaster", "Decarbonisation Pathway Forecaster"],
    "reconciler": ["Ledger Reconciler", "Factor Reconciler", "Supplier Data Reconciler"],
    "auditor": ["Assurance Auditor", "Anomaly Detector", "Audit Trail Reviewer"],
    "connector": ["ERP Connector", "Utility API Connector", "Supplier Portal Connector"],
    "advisor": ["Gap Analyzer", "Abatement Advisor", "Target Setting Advisor"],
}
TAGS = [
    "scope-1", "scope-2", "scope-3", "ghg", "emissions", "energy", "supplier-data",
    "pdf-extraction", "llm", "estimation", "activity-data", "emission-factors", "audit-trail",
    "xbrl", "esg", "materiality", "finance", "logistics", "manufacturing", "agriculture",
    "real-estate", "utilities", "transport", "chemicals", "mining", "banking", "insurance",
    "retail", "ocr", "anomaly-detection", "forecasting", "benchmarking", "decarbonisation",
    "net-zero", "water", "nature", "lca", "carbon-credits",
]  # fmt: skip
METHODS = [
    "IPCC 2006 default factors", "DEFRA conversion factors", "supplier-specific primary data",
    "spend-based EEIO factors", "the GHG Protocol hybrid method", "ecoinvent LCA data",
    "EU CBAM default values", "metered interval data", "PCAF attribution factors",
]  # fmt: skip
SOURCES = [
    "ERP purchase ledgers", "supplier questionnaires", "utility invoices", "customs declarations",
    "fleet telematics", "smart meter exports", "sustainability reports", "bank loan books",
    "satellite land-cover data", "travel booking systems",
]  # fmt: skip
ISSUES = [
    "missing activity data", "unit mismatches", "outlier intensities", "double counting",
    "stale emission factors", "unverified supplier claims", "boundary gaps",
]  # fmt: skip
DELIVERABLES = [
    "the quarterly CBAM declaration", "ESRS E1 disclosures", "the annual CDP response",
    "limited assurance review", "the board climate dashboard", "SFDR PAI statements",
    "the SBTi target submission", "taxonomy KPI tables",
]  # fmt: skip

# Query mix for search: (weight, params). Plain words, multi-word, typos, prefixes, filters.
SEARCH_MIX: list[tuple[int, dict[str, Any]]] = [
    (6, {"query": "emissions"}), (4, {"query": "cbam"}), (3, {"query": "steel"}),
    (3, {"query": "supplier"}), (3, {"query": "methane"}), (3, {"query": "taxonomy"}),
    (3, {"query": "disclosure"}), (2, {"query": "cement"}), (2, {"query": "hydrogen"}),
    (2, {"query": "invoice"}), (2, {"query": "water"}), (2, {"query": "biodiversity"}),
    (2, {"query": "refrigerant"}), (2, {"query": "materiality"}), (2, {"query": "xbrl"}),
    (2, {"query": "forecaster"}), (2, {"query": "scope 3 emissions"}),
    (2, {"query": "steel emissions calculator"}), (2, {"query": "supplier data"}),
    (2, {"query": "double materiality"}), (1, {"query": "green bond"}),
    (2, {"query": "emisions"}), (1, {"query": "methan"}), (1, {"query": "taxonmy"}),
    (1, {"query": "cment"}), (2, {"query": "decarb"}), (1, {"query": "calc"}),
    (1, {"query": "disclos"}),
    (3, {"query": "steel", "regulatory_scope": "CBAM"}),
    (2, {"query": "materiality", "regulatory_scope": "CSRD"}),
    (2, {"query": "emissions", "type": "calculator"}),
    (2, {"query": "scope", "status": "active"}),
    (2, {"query": "supplier", "tags": "scope-3"}),
    (1, {"query": "energy", "owner_team": "energy-data"}),
    (1, {"regulatory_scope": "SFDR"}),
    (1, {"regulatory_scope": "CBAM", "status": "active"}),
]  # fmt: skip


def slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(p for p in out.split("-") if p)


@dataclass
class Dataset:
    agents: list[tuple[Any, ...]] = field(default_factory=list)
    versions: list[tuple[Any, ...]] = field(default_factory=list)
    certificates: list[tuple[Any, ...]] = field(default_factory=list)
    usage: list[tuple[Any, ...]] = field(default_factory=list)
    agent_ids: list[str] = field(default_factory=list)


AGENT_COLS = [
    "agent_id", "name", "description", "owner_team", "type", "regulatory_scope", "tags",
    "current_version", "created_at", "updated_at", "deleted_at", "deployment_count",
]  # fmt: skip
USAGE_COLS = [
    "agent_id", "version", "calls", "errors", "denied", "total_tokens", "last_call_at",
]  # fmt: skip
VERSION_COLS = [
    "agent_id", "version", "status", "spec", "spec_hash", "changelog", "status_reason",
    "created_at", "created_by", "updated_at", "row_version",
]  # fmt: skip
CERT_COLS = [
    "certificate_id", "agent_id", "version", "issuer", "issued_at", "expires_at", "issued_by",
]  # fmt: skip


def spec_hash(spec: dict[str, Any]) -> str:
    """Same canonical form as registry.spec.AgentSpec.spec_hash (checked on a sample)."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def make_spec(rng: random.Random, agent_id: str, version: str) -> dict[str, Any]:
    """One realistic, valid agent spec (used for the HTTP registrations)."""
    kind = rng.choice(TYPES)
    subject = rng.choice(SUBJECTS)
    scopes = rng.sample(SCOPES, rng.randint(1, 3))
    return {
        "agent_id": agent_id,
        "name": f"{scopes[0]} {subject} {rng.choice(FUNCTIONS[kind])}",
        "version": version,
        "description": describe(rng, subject, scopes[0]),
        "type": kind,
        "metadata": {
            "team": rng.choice(TEAMS),
            "regulatory_scope": scopes,
            "tags": rng.sample(TAGS, rng.randint(2, 5)),
            "changelog": f"release {version}",
        },
    }


def describe(rng: random.Random, subject: str, scope: str) -> str:
    return (
        f"Computes {subject.lower()} figures for {scope} reporting using {rng.choice(METHODS)}. "
        f"Pulls {rng.choice(SOURCES)}, flags {rng.choice(ISSUES)} and prepares "
        f"{rng.choice(DELIVERABLES)}."
    )


def generate(n: int, seed: int = 42) -> Dataset:
    rng = random.Random(seed)
    ds = Dataset()
    base = datetime(2024, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC)
    seen: set[str] = set()
    for i in range(n):
        kind = rng.choice(TYPES)
        subject = rng.choice(SUBJECTS)
        scopes = rng.sample(SCOPES, rng.choices([1, 2, 3], [5, 3, 2])[0])
        function = rng.choice(FUNCTIONS[kind])
        name = f"{scopes[0]} {subject} {function}"
        stem = slug(f"{scopes[0]} {subject} {kind}")[:50].rstrip("-")
        agent_id = f"{stem}-{i:05d}"
        assert agent_id not in seen
        seen.add(agent_id)
        team = rng.choice(TEAMS)
        tags = rng.sample(TAGS, rng.randint(2, 5))
        description = describe(rng, subject, scopes[0])
        created = base + timedelta(minutes=rng.randint(0, 700 * 24 * 60))
        k = rng.choices([1, 2, 3], [5, 3, 2])[0]
        major = rng.randint(0, 3)
        versions, minor = [], 0
        for _ in range(k):
            minor += rng.randint(0, 3)
            versions.append(f"{major}.{minor}.{rng.randint(0, 5)}")
            minor += 1
        statuses = [rng.choice(["deprecated", "retired", "deprecated"]) for _ in range(k - 1)]
        last = rng.choices(["active", "draft", "deprecated", "retired"], [70, 15, 10, 5])[0]
        if last == "draft" and k > 1:
            statuses[-1] = "active"
        statuses.append(last)
        deleted = rng.random() < 0.01
        if deleted:
            statuses = ["retired"] * k
        active = [v for v, s in zip(versions, statuses, strict=True) if s == "active"]
        current = active[-1] if active else versions[-1]
        updated = created
        for j, (version, status) in enumerate(zip(versions, statuses, strict=True)):
            at = created + timedelta(days=30 * j, minutes=rng.randint(0, 1000))
            updated = max(updated, at)
            spec = {
                "agent_id": agent_id,
                "name": name,
                "version": version,
                "description": description,
                "type": kind,
                "metadata": {
                    "team": team,
                    "regulatory_scope": scopes,
                    "tags": tags,
                    "changelog": f"release {version}",
                },
            }
            ds.versions.append(
                (
                    agent_id,
                    version,
                    status,
                    json.dumps(spec),
                    spec_hash(spec),
                    f"release {version}",
                    None if status in ("draft", "active") else "superseded",
                    at,
                    f"{team}-ci (publisher)",
                    at,
                    1 + (status != "draft"),
                )
            )
            if status == "active" and rng.random() < 0.6:
                ds.certificates.append(
                    (
                        f"CERT-{agent_id.upper()}-{version}",
                        agent_id,
                        version,
                        rng.choice(["TUV SUD", "Bureau Veritas", "DNV", "SGS"]),
                        at,
                        now + timedelta(days=rng.randint(-60, 700)),
                        "approver-1 (approver)",
                    )
                )
        # Two draws, as when usage was a JSON column: the rest of the dataset stays the same.
        calls, tokens_per_call = rng.randint(0, 50_000), rng.randint(40, 4000)
        if calls:
            usage = (calls, calls // 100, calls // 40, calls * tokens_per_call, updated)
            ds.usage.append((agent_id, current, *usage))
        ds.agents.append(
            (
                agent_id,
                name,
                description,
                team,
                kind,
                scopes,
                tags,
                current,
                created,
                updated,
                updated if deleted else None,
                rng.randint(0, 40),
            )
        )
        ds.agent_ids.append(agent_id)
    return ds


def check_specs(ds: Dataset, sample: int = 200) -> None:
    """The generated specs are valid for the product's own validator and hash alike."""
    from registry.catalog.spec import validate_spec

    for row in ds.versions[:sample]:
        spec = validate_spec(json.loads(row[3]))
        assert spec.spec_hash() == row[4], "spec_hash differs from AgentSpec.spec_hash"


def search_requests(rng: random.Random, n: int) -> list[dict[str, Any]]:
    weights = [w for w, _ in SEARCH_MIX]
    return [dict(p, page_size=20) for p in rng.choices([p for _, p in SEARCH_MIX], weights, k=n)]


def search_path(params: dict[str, Any]) -> str:
    return "/api/v1/agents/search?" + urlencode(params)


def search_query(params: dict[str, Any]) -> Any:
    from registry.catalog.models import SearchQuery

    raw = dict(params)
    for key in ("tags", "regulatory_scope"):
        if key in raw:
            raw[key] = raw[key].split(",")
    return SearchQuery.model_validate(raw)


# Distinct search mix: queries drawn from the catalogue's own words, so most are new to the
# registry's 2 s result cache. (weight, kind); see distinct_search_requests.
DISTINCT_MIX = [
    (6, "word"), (29, "phrase"), (17, "typo"), (13, "prefix"), (25, "facets"), (10, "filters"),
]  # fmt: skip
STATUSES = ["active", "draft", "deprecated", "retired"]
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def vocabulary(ds: Dataset) -> tuple[list[str], list[list[str]]]:
    """(distinct words of 3+ letters, the words of each agent's name and description)."""
    from registry.search.text import words

    texts = [words(f"{a[1]} {a[2]}") for a in ds.agents]
    vocab = sorted({w for t in texts for w in t if len(w) >= 3 and not w.isdigit()})
    return vocab, texts


def _typo(rng: random.Random, word: str) -> str:
    """One edit (delete, substitute or insert a letter) away from `word`."""
    i = rng.randrange(len(word))
    edit = rng.choice(["delete", "substitute", "insert"])
    if edit == "delete":
        return word[:i] + word[i + 1 :]
    c = rng.choice(_LETTERS)
    return word[:i] + c + word[i + 1 :] if edit == "substitute" else word[:i] + c + word[i:]


def _text(rng: random.Random, kind: str, vocab: list[str], texts: list[list[str]]) -> str:
    long = [w for w in vocab if len(w) >= 5]
    if kind == "word":
        return rng.choice(vocab)
    if kind == "typo":
        return _typo(rng, rng.choice(long))
    if kind == "prefix":
        word = rng.choice(long)
        head = rng.choice(vocab) + " " if rng.random() < 0.4 else ""
        return head + word[: rng.randint(3, len(word) - 1)]
    text = [w for w in rng.choice(texts) if len(w) >= 3]  # 2-3 words of one agent, in order
    picked = sorted(rng.sample(range(len(text)), min(len(text), rng.randint(2, 3))))
    return " ".join(text[i] for i in picked)


def _filters(rng: random.Random, count: int) -> dict[str, Any]:
    pickers = {
        "regulatory_scope": lambda: rng.choice(SCOPES),
        "type": lambda: rng.choice(TYPES),
        "status": lambda: rng.choices(STATUSES, [6, 2, 1, 1])[0],
        "owner_team": lambda: rng.choice(TEAMS),
        "tags": lambda: rng.choice(TAGS),
    }
    return {k: pickers[k]() for k in rng.sample(sorted(pickers), count)}


def distinct_search_requests(ds: Dataset, rng: random.Random, n: int) -> list[dict[str, Any]]:
    """`n` search params: single words, phrases, one-typo words, prefixes, text with filters
    and filter combinations, from the catalogue's words; most of them occur once."""
    vocab, texts = vocabulary(ds)
    kinds = rng.choices([k for _, k in DISTINCT_MIX], [w for w, _ in DISTINCT_MIX], k=n)
    out = []
    for kind in kinds:
        params: dict[str, Any] = {}
        if kind != "filters":
            params["query"] = _text(rng, rng.choice(["word", "phrase"]) if kind == "facets"
                                    else kind, vocab, texts)  # fmt: skip
        if kind in ("facets", "filters"):
            params |= _filters(rng, rng.randint(1, 2) if kind == "facets" else rng.randint(1, 3))
        params["page_size"] = 20
        if rng.random() < 0.1:
            params["page"] = rng.randint(2, 3)
        out.append(params)
    return out


def distinct_share(params: list[dict[str, Any]]) -> float:
    """Share of requests whose query (all params) occurs only once in the list."""
    keys = [search_path(p) for p in params]
    counts: dict[str, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    return sum(1 for k in keys if counts[k] == 1) / len(keys) if keys else 0.0
