"""Every example agent ships an input.json its artifact's `run` accepts.

The scale bench and smoke tests send these files as request bodies, so each one must be a small
JSON object that the agent turns into a JSON-serialisable result (no NaN or infinity, which the
agent host could not answer with).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

AGENTS_DIR = Path(__file__).resolve().parents[2] / "examples" / "agents"
AGENT_DIRS = sorted(path.parent for path in AGENTS_DIR.glob("*/artifact.py"))
MAX_INPUT_BYTES = 2048


def load_artifact(agent_dir: Path) -> ModuleType:
    """Import the artifact in-process under a name of its own (artifacts share a file name)."""
    name = "example_artifact_" + agent_dir.name.replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, agent_dir / "artifact.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reject_constant(token: str) -> NoReturn:
    """json.loads accepts NaN and Infinity by default; a valid input file must not."""
    raise ValueError(f"non-standard JSON constant {token}")


def test_example_agents_are_found() -> None:
    assert AGENT_DIRS, f"no */artifact.py under {AGENTS_DIR}"


@pytest.mark.parametrize("agent_dir", AGENT_DIRS, ids=lambda path: path.name)
def test_example_input_runs(agent_dir: Path) -> None:
    input_path = agent_dir / "input.json"
    assert input_path.is_file(), f"{agent_dir.name} has no input.json"
    raw = input_path.read_bytes()
    assert len(raw) < MAX_INPUT_BYTES, f"{input_path} is {len(raw)} bytes"
    inputs = json.loads(raw, parse_constant=reject_constant)
    assert isinstance(inputs, dict), f"{input_path} is not a JSON object"

    result = load_artifact(agent_dir).run(inputs)

    assert isinstance(result, dict)
    json.dumps(result, allow_nan=False)
