"""Load an agent artifact: one Python file that defines ``run(inputs: dict) -> dict`` (or
``run(inputs, obs)``, which also gets the agent's observability object)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

RunFunction = Callable[..., Any]  # run(inputs) or run(inputs, obs)
MODULE_NAME = "greenlang_agent_artifact"


class ArtifactError(Exception):
    """The artifact cannot be served; the message is one line that says why."""


def load_run(path: Path) -> RunFunction:
    """Import the file as a module and return its ``run``; any failure is an ArtifactError,
    including SystemExit raised by the module's top level."""
    if not path.is_file():
        raise ArtifactError(f"artifact {path}: no such file")
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise ArtifactError(f"artifact {path}: not a Python module (expected a .py file)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module  # dataclasses and pickling look their module up here
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        raise ArtifactError(f"artifact {path} failed to import: {_one_line(exc)}") from None
    run = getattr(module, "run", None)
    if not callable(run):
        raise ArtifactError(f"artifact {path} defines no run(inputs) function")
    return run


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
