"""Read policy YAML safely and keep the line of every key, so errors can say `file:line`.

The documents are composed (not just loaded) so each mapping key and list item keeps its mark.
Anchors and aliases are refused (kernel.safe_yaml's loader: they are how YAML bombs expand), as
are duplicate keys and anything that is not plain JSON data (timestamps, custom tags).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from bundles.errors import Problem
from kernel.safe_yaml import NoAliasLoader

MAX_SOURCE_BYTES = 1 << 20
MAX_DEPTH = 32

Path_ = tuple[str | int, ...]


@dataclass
class Document:
    """One YAML document: its value and the 1-based line of every path inside it."""

    file: str
    value: Any
    line: int
    lines: dict[Path_, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)  # what could not be read as data

    def line_of(self, loc: Path_) -> int:
        """Line of the deepest known prefix of `loc` (pydantic error locations)."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.line


class _Converter:
    """Turns composed nodes into JSON-like values, recording lines and problems."""

    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, node: yaml.Node, reason: str) -> None:
        self.problems.append(Problem(self.file, node.start_mark.line + 1, reason))

    def convert(self, node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
        if len(path) > MAX_DEPTH:
            self.problem(node, f"nested deeper than {MAX_DEPTH} levels")
            return None
        if isinstance(node, yaml.ScalarNode):
            value = self.loader.construct_object(node, deep=True)
            if isinstance(value, datetime.date | datetime.datetime):
                self.problem(node, "dates and timestamps must be quoted strings")
                return None
            if isinstance(value, bytes):
                self.problem(node, "binary values are not allowed")
                return None
            return value
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.convert(item, (*path, index), lines))
            return items
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problem(key_node, "mapping keys must be plain strings")
                    continue
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    self.problem(key_node, f"mapping key {key!r} must be a string")
                    continue
                if key in result:
                    self.problem(key_node, f"duplicate key {key!r}")
                    continue
                lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = self.convert(value_node, (*path, key), lines)
            return result
        self.problem(node, "unsupported YAML node")
        return None


def _error_line(exc: yaml.YAMLError) -> int:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return int(mark.line) + 1
    found = re.search(r"\(line (\d+)\)", str(exc))
    return int(found.group(1)) if found else 1


def _error_reason(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if problem:
        return f"invalid YAML: {context + ': ' if context else ''}{problem}"
    return f"invalid YAML: {str(exc).splitlines()[0]}"


def load_documents(text: str, file: str) -> tuple[list[Document], list[Problem]]:
    """Every document of one YAML source, or the problems that stop it from being read.

    Problems inside a document that was still read (duplicate keys, timestamps) are on the
    document (`Document.problems`); the returned list is for the source as a whole."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        return [], [Problem(file, 1, f"file larger than {MAX_SOURCE_BYTES} bytes")]
    try:
        loader = NoAliasLoader(text)  # its reader refuses non-printable characters at once
    except yaml.YAMLError as exc:
        return [], [Problem(file, _error_line(exc), _error_reason(exc))]
    converter = _Converter(loader, file)
    documents: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            doc = Document(file, None, node.start_mark.line + 1)
            doc.value = converter.convert(node, (), doc.lines)
            doc.problems, converter.problems = converter.problems, []
            documents.append(doc)
    except yaml.YAMLError as exc:
        return [], [*converter.problems, Problem(file, _error_line(exc), _error_reason(exc))]
    except (ValueError, TypeError, RecursionError) as exc:
        return [], [*converter.problems, Problem(file, 1, f"invalid YAML: {exc}")]
    finally:
        loader.dispose()
    return documents, []
