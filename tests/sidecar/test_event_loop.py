"""--event-loop: uvloop when it is importable (auto), asyncio on request, a usage error when
uvloop is asked for and missing. The started sidecar reports the loop it runs on
(test_cli.py::test_starts_ready_and_stops_on_sigterm)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from kernel.cli import CliError
from sidecar import event_loop
from sidecar.event_loop import loop_factory, loop_name


def test_asyncio_is_the_standard_loop() -> None:
    assert loop_factory("asyncio") is None
    with asyncio.Runner(loop_factory=loop_factory("asyncio")) as runner:
        assert loop_name(runner.get_loop()) == "asyncio"


@pytest.mark.skipif(not event_loop.uvloop_available(), reason="uvloop is a dependency")
@pytest.mark.parametrize("choice", ["auto", "uvloop"])
def test_auto_and_uvloop_run_on_uvloop(choice: str) -> None:
    factory = loop_factory(choice)
    assert factory is not None
    with asyncio.Runner(loop_factory=factory) as runner:
        assert loop_name(runner.get_loop()) == "uvloop"
        assert runner.run(asyncio.sleep(0, "ran")) == "ran"


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(event_loop, "uvloop_available", lambda: False)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    assert loop_factory("auto") is None
    with pytest.raises(CliError) as refused:
        loop_factory("uvloop")
    assert refused.value.code == 2 and "uvloop" in str(refused.value)


def test_an_unknown_loop_is_a_usage_error() -> None:
    with pytest.raises(CliError):
        loop_factory("trio")
