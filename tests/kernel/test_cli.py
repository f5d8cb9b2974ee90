"""CLI plumbing shared by every GreenLang CLI: exit codes and one-line errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from kernel.cli import CliError, read_file, run_cli
from kernel.registry_client import check, registry_client


def fail(exc: BaseException) -> int:
    raise exc


def test_run_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(lambda: 0) == 0
    assert run_cli(lambda: fail(CliError("bad flag", 2))) == 2
    assert capsys.readouterr().err == "error: bad flag\n"
    assert run_cli(lambda: fail(httpx.ConnectError("refused"))) == 1
    assert "cannot reach the registry: refused" in capsys.readouterr().err
    assert run_cli(lambda: fail(KeyboardInterrupt())) == 130


def test_read_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"x: 1")
    assert read_file(str(tmp_path / "a.yaml"), "spec") == b"x: 1"
    with pytest.raises(CliError, match=r"cannot read spec .*missing.yaml") as info:
        read_file(str(tmp_path / "missing.yaml"), "spec")
    assert info.value.code == 2


def test_check_turns_problems_into_one_line_errors() -> None:
    assert check(httpx.Response(200, json={"ok": True})) == {"ok": True}
    with pytest.raises(CliError, match=r"^404 no such agent$") as info:
        check(httpx.Response(404, json={"detail": "no such agent"}))
    assert info.value.code == 2
    with pytest.raises(CliError, match=r"^502 upstream down$") as info:
        check(httpx.Response(502, text="upstream down"))
    assert info.value.code == 1


def test_client_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENLANG_TOKEN", raising=False)
    with pytest.raises(CliError, match="GREENLANG_TOKEN"):
        registry_client()
    monkeypatch.setenv("GREENLANG_TOKEN", "t0k")
    monkeypatch.setenv("GREENLANG_REGISTRY_URL", "http://127.0.0.1:1/")
    with registry_client() as client:
        assert str(client.base_url) == "http://127.0.0.1:1/api/v1/"
        assert client.headers["Authorization"] == "Bearer t0k"
