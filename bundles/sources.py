"""Load Rego modules and JSON data from files and directories the way `opa run`/`opa test` do.

OPA puts a data file found in `<root>/a/b/` at `data.a.b` (whatever the file's name) and merges
objects from several files; the embedded engine must see exactly the same document, so it loads
its inputs through here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DATA_SUFFIXES = (".json",)


class SourceError(Exception):
    """A data file that cannot be read or merged."""


def _files(paths: Iterable[Path | str]) -> list[tuple[Path, Path]]:
    """(root, file) for every file under the given paths, sorted within each root."""
    found: list[tuple[Path, Path]] = []
    for raw in paths:
        root = Path(raw)
        if root.is_dir():
            found += [(root, f) for f in sorted(root.rglob("*")) if f.is_file()]
        elif root.is_file():
            found.append((root.parent, root))
        else:
            raise SourceError(f"{root}: no such file or directory")
    return found


def load_modules(paths: Iterable[Path | str], *, tests: bool = False) -> dict[str, str]:
    """{path: source} of every .rego file (without *_test.rego unless `tests`)."""
    modules: dict[str, str] = {}
    for _, file in _files(paths):
        if file.suffix != ".rego" or (file.name.endswith("_test.rego") and not tests):
            continue
        modules[str(file)] = file.read_text(encoding="utf-8")
    return modules


def merge_into(target: dict[str, Any], prefix: tuple[str, ...], value: Any, origin: str) -> None:
    """Merge `value` at `prefix` of `target`; objects merge key by key, anything else conflicts."""
    node = target
    for key in prefix:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise SourceError(f"{origin}: data path {'.'.join(prefix)} conflicts with a value")
        node = child
    if not isinstance(value, dict):
        raise SourceError(f"{origin}: a data file must hold a JSON object")
    for key, item in value.items():
        if key in node and isinstance(node[key], dict) and isinstance(item, dict):
            merge_into(node, (key,), item, origin)
        elif key in node:
            raise SourceError(f"{origin}: data.{'.'.join((*prefix, key))} is defined twice")
        else:
            node[key] = item


def load_data(paths: Iterable[Path | str]) -> dict[str, Any]:
    """The merged data document of every .json file under the given paths."""
    data: dict[str, Any] = {}
    for root, file in _files(paths):
        if file.suffix not in DATA_SUFFIXES:
            continue
        try:
            value = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SourceError(f"{file}: {exc}") from None
        prefix = file.parent.relative_to(root).parts
        merge_into(data, prefix, value, str(file))
    return data
