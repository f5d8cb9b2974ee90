"""Entry points of tools whose issues have not landed yet: say so and exit 2."""

from __future__ import annotations

import sys


def _unavailable(name: str) -> None:
    print(f"{name}: not yet available in this release", file=sys.stderr)
    raise SystemExit(2)


def lifecycle() -> None:
    _unavailable("greenlang-lifecycle")
