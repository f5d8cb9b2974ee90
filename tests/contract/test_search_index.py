"""Contract of the SearchIndex port, run on every adapter that can start here.

Postgres always runs (real embedded server); Meilisearch runs on the session's server (the
`meili` fixture: ../shared/bin/meilisearch, or GREENLANG_TEST_MEILI_URL), each test on a fresh
index, and is skipped only where no Meilisearch binary exists."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from registry.catalog.models import AgentStatus, SearchQuery
from registry.search import search_index_from_url
from registry.search.meili import MeiliSearchIndex
from registry.search.port import FACET_FIELDS, SearchDocument, SearchIndex
from registry.search.postgres import PostgresSearchIndex
from tests.support.meili import MeiliTarget


def _doc(
    agent_id: str,
    name: str,
    description: str,
    team: str,
    type_: str,
    status: str,
    tags: list[str],
    scope: list[str],
) -> SearchDocument:
    return SearchDocument(
        agent_id=agent_id,
        name=name,
        description=description,
        owner_team=team,
        type=type_,
        status=status,
        current_version="1.0.0",
        tags=tags,
        regulatory_scope=scope,
    )


CORPUS = [
    _doc(
        "cbam-calculator",
        "CBAM Embedded Emissions Calculator",
        "Computes embedded emissions of imported steel, aluminium and cement for CBAM returns.",
        "trade-compliance",
        "calculator",
        "active",
        ["cbam", "emissions", "steel"],
        ["EU-CBAM"],
    ),
    _doc(
        "csrd-reporter",
        "CSRD Sustainability Reporter",
        "Drafts ESRS-aligned sustainability statements from consolidated group data.",
        "reporting",
        "reporter",
        "active",
        ["csrd", "esrs", "disclosure"],
        ["EU-CSRD"],
    ),
    _doc(
        "ghg-scope3-estimator",
        "GHG Scope 3 Estimator",
        "Estimates upstream value-chain emissions using spend-based factors.",
        "carbon-accounting",
        "estimator",
        "active",
        ["ghg", "scope3", "emissions"],
        ["GHG-Protocol", "SBTi"],
    ),
    _doc(
        "eudr-due-diligence",
        "EUDR Due Diligence Assistant",
        "Checks geolocation of plots and deforestation-free evidence for commodities.",
        "supply-chain",
        "assistant",
        "draft",
        ["eudr", "deforestation", "supply-chain"],
        ["EU-EUDR"],
    ),
    _doc(
        "sbti-target-validator",
        "SBTi Target Validator",
        "Validates near-term and net-zero targets against the science-based criteria.",
        "carbon-accounting",
        "validator",
        "active",
        ["sbti", "targets", "net-zero"],
        ["SBTi", "Paris-Agreement"],
    ),
    _doc(
        "taxonomy-alignment-checker",
        "EU Taxonomy Alignment Checker",
        "Screens activities against technical screening rules and do-no-significant-harm tests.",
        "reporting",
        "validator",
        "deprecated",
        ["taxonomy", "esg"],
        ["EU-Taxonomy"],
    ),
    _doc(
        "tcfd-scenario-engine",
        "Climate Risk Scenario Analyzer",
        "Runs transition and physical risk scenarios for TCFD and ISSB disclosures.",
        "risk",
        "analyzer",
        "active",
        ["tcfd", "issb", "risk", "disclosure"],
        ["ISSB-S2"],
    ),
    _doc(
        "scope2-electricity-calculator",
        "Scope 2 Electricity Calculator",
        "Applies location-based and market-based factors to electricity purchases.",
        "carbon-accounting",
        "calculator",
        "active",
        ["ghg", "scope2", "electricity"],
        ["GHG-Protocol"],
    ),
    _doc(
        "cdp-questionnaire-assistant",
        "CDP Questionnaire Assistant",
        "Prefills the CDP climate questionnaire from verified inventory data.",
        "reporting",
        "assistant",
        "retired",
        ["cdp", "disclosure"],
        ["CDP"],
    ),
    _doc(
        "product-footprint-lca",
        "Product Carbon Footprint",
        "Life-cycle assessment of products; its results feed the CBAM calculator.",
        "product",
        "estimator",
        "active",
        ["lca", "pcf"],
        ["ISO-14067"],
    ),
    _doc(
        "methane-leak-monitor",
        "Methane Leak Monitor",
        "Flags intensity anomalies for oil and gas operations.",
        "operations",
        "monitor",
        "active",
        ["methane", "emissions", "monitoring"],
        ["EU-Methane"],
    ),
    _doc(
        "water-stress-screener",
        "Water Stress Screener",
        "Scores sites for water stress and biodiversity risk with TNFD metrics.",
        "risk",
        "analyzer",
        "draft",
        ["water", "tnfd", "risk", "biodiversity"],
        ["TNFD"],
    ),
]
ALL_IDS = sorted(d.agent_id for d in CORPUS)
CALCULATORS = {"cbam-calculator", "scope2-electricity-calculator", "product-footprint-lca"}
EMITTERS = ["cbam-calculator", "ghg-scope3-estimator", "methane-leak-monitor"]


def _meili_index(request: pytest.FixtureRequest) -> Iterator[SearchIndex]:
    server: MeiliTarget = request.getfixturevalue("meili")
    url, key = server.url, server.key
    name = f"agents_test_{secrets.token_hex(6)}"
    yield MeiliSearchIndex(url, key, name)
    import meilisearch  # the SDK directly: dropping an index is not part of the port

    client = meilisearch.Client(url, key)
    client.wait_for_task(client.delete_index(name).task_uid)


@pytest.fixture(params=["postgres", pytest.param("meili", marks=pytest.mark.meili)])
def index(request: pytest.FixtureRequest) -> Iterator[SearchIndex]:
    """An empty index of each adapter (sync fixture: it pulls the async `pool` lazily)."""
    if request.param == "meili":
        yield from _meili_index(request)
    else:
        yield PostgresSearchIndex(request.getfixturevalue("pool"))


@pytest.fixture
async def loaded(index: SearchIndex) -> SearchIndex:
    await index.upsert(CORPUS)
    return index


async def _ids(index: SearchIndex, **kw: Any) -> list[str]:
    return (await index.search(SearchQuery(**kw))).agent_ids


def _no_facets() -> dict[str, dict[str, int]]:
    return {f: {} for f in FACET_FIELDS}


# --- text matching -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("methane", ["methane-leak-monitor"]),  # name and tag
        ("geolocation", ["eudr-due-diligence"]),  # description only
        ("pcf", ["product-footprint-lca"]),  # tag only
        ("paris", ["sbti-target-validator"]),  # regulatory scope only
        ("engine", ["tcfd-scenario-engine"]),  # agent id part only
        ("due diligence", ["eudr-due-diligence"]),  # words AND-ed
        ("ÉMISSIONS", EMITTERS),  # case and accents folded
    ],
)
async def test_text_matches_every_searchable_field(
    loaded: SearchIndex, text: str, expected: list[str]
) -> None:
    hits = await loaded.search(SearchQuery(query=text))
    assert sorted(hits.agent_ids) == expected
    assert hits.total == len(expected)


async def test_all_words_must_match(loaded: SearchIndex) -> None:
    assert await _ids(loaded, query="methane steel") == []
    assert sorted(await _ids(loaded, query="cbam calculator")) == [
        "cbam-calculator",
        "product-footprint-lca",
    ]


async def test_name_match_ranks_above_description_only_match(loaded: SearchIndex) -> None:
    ids = await _ids(loaded, query="calculator")
    assert set(ids) == CALCULATORS
    assert ids[-1] == "product-footprint-lca"  # mentions "calculator" only in its description


async def test_name_outranks_description_with_one_occurrence_each(loaded: SearchIndex) -> None:
    # "climate" is in the analyzer's name and in the questionnaire assistant's description.
    assert await _ids(loaded, query="climate") == [
        "tcfd-scenario-engine",
        "cdp-questionnaire-assistant",
    ]


async def test_english_stop_words_are_ignored(loaded: SearchIndex) -> None:
    assert set(await _ids(loaded, query="the calculator")) == CALCULATORS
    assert await _ids(loaded, query="monitor for methane") == ["methane-leak-monitor"]


async def test_one_typo_is_tolerated_two_are_not(loaded: SearchIndex) -> None:
    assert set(await _ids(loaded, query="calculatr")) == CALCULATORS
    assert await _ids(loaded, query="methan leak") == ["methane-leak-monitor"]
    assert await _ids(loaded, query="rizk") == ["tcfd-scenario-engine", "water-stress-screener"]
    assert await _ids(loaded, query="calclatr") == []
    assert await _ids(loaded, query="lek monitor") == []  # 3 letters: no typo allowed
    assert sorted(await _ids(loaded, query="ghg")) == [
        "ghg-scope3-estimator",
        "scope2-electricity-calculator",
    ]


async def test_last_word_matches_as_prefix_only(loaded: SearchIndex) -> None:
    assert await _ids(loaded, query="defor") == ["eudr-due-diligence"]
    assert await _ids(loaded, query="due defor") == ["eudr-due-diligence"]
    assert await _ids(loaded, query="defor due") == []
    assert await _ids(loaded, query="questionn") == ["cdp-questionnaire-assistant"]


# --- filters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status": AgentStatus.DRAFT}, ["eudr-due-diligence", "water-stress-screener"]),
        ({"status": AgentStatus.RETIRED}, ["cdp-questionnaire-assistant"]),
        (
            {"owner_team": "carbon-accounting"},
            ["ghg-scope3-estimator", "sbti-target-validator", "scope2-electricity-calculator"],
        ),
        ({"type": "calculator"}, ["cbam-calculator", "scope2-electricity-calculator"]),
        ({"tags": ["emissions"]}, EMITTERS),
        ({"tags": ["emissions", "ghg"]}, ["ghg-scope3-estimator"]),
        ({"tags": ["emissions", "water"]}, []),
        (
            {"regulatory_scope": ["GHG-Protocol"]},
            ["ghg-scope3-estimator", "scope2-electricity-calculator"],
        ),
        ({"regulatory_scope": ["GHG-Protocol", "SBTi"]}, ["ghg-scope3-estimator"]),
        (
            {"owner_team": "carbon-accounting", "type": "calculator"},
            ["scope2-electricity-calculator"],
        ),
        ({"owner_team": "risk", "status": AgentStatus.ACTIVE}, ["tcfd-scenario-engine"]),
        ({"tags": ["risk"], "regulatory_scope": ["TNFD"]}, ["water-stress-screener"]),
        ({"owner_team": "nobody"}, []),
        ({"owner_team": 'x" OR status = "active'}, []),  # quoting, not injection
        ({"tags": ["a\\\"b'c"]}, []),
    ],
)
async def test_filters_alone_and_combined(
    loaded: SearchIndex, filters: dict[str, Any], expected: list[str]
) -> None:
    hits = await loaded.search(SearchQuery(**filters))
    assert hits.agent_ids == expected  # empty query: ordered by agent_id
    assert hits.total == len(expected)


async def test_filters_and_text_combine(loaded: SearchIndex) -> None:
    assert await _ids(loaded, query="emissions", status=AgentStatus.ACTIVE, type="monitor") == [
        "methane-leak-monitor"
    ]
    assert await _ids(loaded, query="calculator", owner_team="product") == ["product-footprint-lca"]
    assert await _ids(loaded, query="methane", tags=["steel"]) == []


# --- totals, pages, facets ---------------------------------------------------------------------


async def test_empty_query_lists_everything_by_agent_id(loaded: SearchIndex) -> None:
    for q in (None, "", "   "):
        hits = await loaded.search(SearchQuery(query=q, page_size=100))
        assert hits.agent_ids == ALL_IDS
        assert hits.total == 12


async def test_pagination_keeps_exact_total(loaded: SearchIndex) -> None:
    pages = [await loaded.search(SearchQuery(page=p, page_size=5)) for p in (1, 2, 3, 4)]
    assert [h.total for h in pages] == [12, 12, 12, 12]
    assert pages[0].agent_ids == ALL_IDS[0:5]
    assert pages[1].agent_ids == ALL_IDS[5:10]
    assert pages[2].agent_ids == ALL_IDS[10:12]
    assert pages[3].agent_ids == []
    ranked = await _ids(loaded, query="calculator", page_size=100)
    second = await loaded.search(SearchQuery(query="calculator", page=2, page_size=2))
    assert second.agent_ids == ranked[2:] and second.total == 3


async def test_facets_count_all_matches_not_just_the_page(loaded: SearchIndex) -> None:
    hits = await loaded.search(SearchQuery(query="emissions", page_size=1))
    assert len(hits.agent_ids) == 1 and hits.total == 3
    assert hits.facets == {
        "tags": {
            "cbam": 1,
            "emissions": 3,
            "steel": 1,
            "ghg": 1,
            "scope3": 1,
            "methane": 1,
            "monitoring": 1,
        },
        "regulatory_scope": {"EU-CBAM": 1, "GHG-Protocol": 1, "SBTi": 1, "EU-Methane": 1},
        "owner_team": {"trade-compliance": 1, "carbon-accounting": 1, "operations": 1},
        "status": {"active": 3},
        "type": {"calculator": 1, "estimator": 1, "monitor": 1},
    }


async def test_facets_over_whole_corpus_and_empty_result(loaded: SearchIndex) -> None:
    everything = await loaded.search(SearchQuery(page_size=1))
    assert everything.facets["status"] == {"active": 8, "draft": 2, "deprecated": 1, "retired": 1}
    assert everything.facets["tags"]["disclosure"] == 3
    assert everything.facets["regulatory_scope"]["SBTi"] == 2
    assert everything.facets["owner_team"]["reporting"] == 3
    assert sum(everything.facets["type"].values()) == 12
    nothing = await loaded.search(SearchQuery(query="zzzzzz"))
    assert (nothing.agent_ids, nothing.total, nothing.facets) == ([], 0, _no_facets())


async def test_facet_values_keep_any_characters(index: SearchIndex) -> None:
    odd = ["a:b", "x'y", "Émission", 'q"uote', "tags:nested"]
    docs = [
        dataclasses.replace(CORPUS[0], agent_id="odd-1", tags=odd[:3], owner_team="t:1"),
        dataclasses.replace(CORPUS[1], agent_id="odd-2", tags=odd[2:], regulatory_scope=["A:B"]),
    ]
    await index.upsert(docs)
    hits = await index.search(SearchQuery())
    assert hits.total == 2
    assert hits.facets["tags"] == {"a:b": 1, "x'y": 1, "Émission": 2, 'q"uote': 1, "tags:nested": 1}
    assert hits.facets["owner_team"] == {"t:1": 1, "reporting": 1}
    assert hits.facets["regulatory_scope"] == {"EU-CBAM": 1, "A:B": 1}
    assert await _ids(index, tags=["a:b"]) == ["odd-1"]


# --- writes ------------------------------------------------------------------------------------


async def test_upsert_replaces_whole_document(loaded: SearchIndex) -> None:
    old = CORPUS[0]
    new = dataclasses.replace(old, status="deprecated", tags=["cbam", "emissions"])
    await loaded.upsert([new])
    assert await _ids(loaded, status=AgentStatus.DEPRECATED) == [
        "cbam-calculator",
        "taxonomy-alignment-checker",
    ]
    hits = await loaded.search(SearchQuery())
    assert hits.total == 12
    assert "steel" not in hits.facets["tags"]
    assert await _ids(loaded, tags=["steel"]) == []
    assert await _ids(loaded, query="steel") == ["cbam-calculator"]  # still in its description


async def test_upsert_is_idempotent_and_new_words_become_searchable(loaded: SearchIndex) -> None:
    await loaded.upsert(CORPUS)
    assert (await loaded.search(SearchQuery())).total == 12
    renamed = dataclasses.replace(CORPUS[1], name="CSRD Double Materiality Reporter")
    await loaded.upsert([renamed])
    assert await _ids(loaded, query="materiality") == ["csrd-reporter"]
    assert await _ids(loaded, query="materiallity") == ["csrd-reporter"]  # typo on a new word


async def test_delete_removes(loaded: SearchIndex) -> None:
    await loaded.delete(["cbam-calculator", "no-such-agent"])
    hits = await loaded.search(SearchQuery())
    assert hits.total == 11 and "cbam-calculator" not in hits.agent_ids
    assert await _ids(loaded, query="cbam") == ["product-footprint-lca"]
    assert "EU-CBAM" not in hits.facets["regulatory_scope"]
    await loaded.delete([])


async def test_clear_empties_and_index_stays_usable(loaded: SearchIndex) -> None:
    await loaded.clear()
    hits = await loaded.search(SearchQuery())
    assert (hits.agent_ids, hits.total, hits.facets) == ([], 0, _no_facets())
    assert await _ids(loaded, query="calculator") == []
    await loaded.upsert(CORPUS[:2])
    assert await _ids(loaded) == ["cbam-calculator", "csrd-reporter"]


# --- hostile input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "'",
        "''",
        "&|!:*()",
        "\\",
        "a:* | !b & (c",
        "<->",
        "'; DROP TABLE search_documents; --",
        "%_",
        "the and or not",  # nothing but stop words / tsquery keywords
        '"unterminated',
        "-cbam",
        "\x00",
        "😀 🌍",
        "排放",
        "x" * 200,
        " ".join(["carbon"] * 40)[:200],
    ],
)
async def test_metacharacters_never_raise(loaded: SearchIndex, text: str) -> None:
    hits = await loaded.search(SearchQuery(query=text))
    assert set(hits.agent_ids) <= set(ALL_IDS)
    assert hits.total >= len(hits.agent_ids)
    assert (await loaded.search(SearchQuery())).total == 12  # nothing was damaged


@pytest.mark.parametrize("text", ["calculator'", "(calculator)", "calculator:*", "!calculator"])
async def test_metacharacters_around_words_are_ignored(loaded: SearchIndex, text: str) -> None:
    assert set(await _ids(loaded, query=text)) == CALCULATORS


def test_factory_picks_adapter_or_explains() -> None:
    assert isinstance(search_index_from_url("postgres", None, None), PostgresSearchIndex)  # type: ignore[arg-type]
    meili = search_index_from_url("http://127.0.0.1:7700", None, "key")  # type: ignore[arg-type]
    assert isinstance(meili, MeiliSearchIndex)
    with pytest.raises(ValueError, match="'postgres' or an http"):
        search_index_from_url("elastic://x", None, None)  # type: ignore[arg-type]
