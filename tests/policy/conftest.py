"""Shared fixtures: the stock policies compiled once, the fixture cases, and both engines
loaded with the same modules and data (fixture catalog, role bindings and agent limits)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bundles.compiler import compile_to_dir
from bundles.engines.embedded import EmbeddedEngine
from bundles.engines.opa_http import OpaHttpEngine
from bundles.layout import POLICY_TESTS_DIR, REGO_DIR, STOCK_DATA_DIR, STOCK_POLICY_DIR
from tests.policy.opa import OpaServer

FIXTURES_FILE = POLICY_TESTS_DIR / "fixtures" / "cases.json"


def load_fixtures() -> dict[str, Any]:
    fixtures: dict[str, Any] = json.loads(FIXTURES_FILE.read_text(encoding="utf-8"))
    return fixtures


def fixture_data_overlay(fixtures: dict[str, Any]) -> dict[str, Any]:
    """Data that adds the fixture catalog, role bindings, agent rate limits, token budgets and
    agent sidecar obligations to the stock data (whose entries for them are empty), as
    helpers_test.rego does with `with`."""
    return {
        "greenlang": {
            "catalog": fixtures["data"]["catalog"],
            "users": fixtures["data"]["users"],
            "rate_limits": {"agents": fixtures["data"]["rate_limits"]["agents"]},
            "token_budgets": {
                "roles": fixtures["data"]["token_budgets"]["roles"],
                "agents": fixtures["data"]["token_budgets"]["agents"],
            },
            "sidecar": {"agents": fixtures["data"]["sidecar"]["agents"]},
        }
    }


@pytest.fixture(scope="session")
def fixtures() -> dict[str, Any]:
    return load_fixtures()


@pytest.fixture(scope="session")
def compiled_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compiled") / "policies"
    compile_to_dir([STOCK_POLICY_DIR], out)
    return out


@pytest.fixture(scope="session")
def engine_paths(
    compiled_dir: Path, fixtures: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> list[Path]:
    """What both engines load, like `opa run rego/ <compiled> bundles/data/ overlay.json`."""
    overlay = tmp_path_factory.mktemp("fixture-data") / "overlay.json"
    overlay.write_text(json.dumps(fixture_data_overlay(fixtures), ensure_ascii=False))
    return [REGO_DIR, compiled_dir, STOCK_DATA_DIR, overlay]


@pytest.fixture(scope="session")
def embedded(engine_paths: list[Path]) -> EmbeddedEngine:
    return EmbeddedEngine.from_paths(engine_paths)


@pytest.fixture(scope="session")
def opa_server(
    engine_paths: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpaServer]:
    with OpaServer(engine_paths, tmp_path_factory.mktemp("opa")) as server:
        yield server


@pytest.fixture(scope="session")
async def opa_http(opa_server: OpaServer) -> AsyncIterator[OpaHttpEngine]:
    engine = OpaHttpEngine(opa_server.url)
    yield engine
    await engine.close()
