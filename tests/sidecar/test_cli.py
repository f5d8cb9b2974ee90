"""greenlang-sidecar's command line: bad flags are one line and exit 2, before anything starts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bundles.assemble import assemble
from bundles.compiler import compile_policies
from bundles.layout import STOCK_POLICY_DIR
from kernel.cli import CliError
from sidecar.cli import build_parser, build_sidecar
from sidecar.event_loop import uvloop_available
from tests.support.bundle_keys import public_key, signing
from tests.support.servers import free_port, reap, sigterm_exit_code


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "jwt.secret"
    path.write_text("s" * 48 + "\n")
    return path


def args(secret: Path, *extra: str) -> list[str]:
    """A production sidecar's flags; with the embedded engine it verifies bundles with the
    test key (production refuses to load unsigned bundles)."""
    key = [] if "--engine" in extra else ["--verification-key", str(public_key(secret.parent))]
    return [
        "--agent-id",
        "gl-x",
        "--upstream",
        "http://127.0.0.1:9",
        "--jwt-secret-file",
        str(secret),
        *key,
        *extra,
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bundle", "nope.tar.gz"], "no such file"),
        ([], "needs --bundle"),
        (["--registry", "http://127.0.0.1:1"], "GREENLANG_TOKEN"),
        (["--bundle", "b", "--fail-open"], "refused with --environment production"),
        (["--bundle", "b", "--engine", "ftp://x"], "--bundle is for the embedded engine"),
        (["--engine", "ftp://x"], "--engine must be an http(s) URL"),
        (["--bundle", "b", "--listen", "8080"], "--listen must be host:port"),
        (["--bundle", "b", "--policy-types", "access_control,nope"], "unknown type 'nope'"),
        (["--bundle", "b", "--decision-cache-ttl", "-1"], "--decision-cache-ttl"),
        (["--bundle", "b", "--rate-window", "0"], "--rate-window"),
        (["--bundle", "b", "--route-poll-s", "-1"], "--route-poll-s must be between 0 and 3600"),
        (["--bundle", "b", "--route-poll-s", "3601"], "--route-poll-s must be between 0"),
        (["--bundle", "b", "--route-poll-s", "nan"], "--route-poll-s must be between 0"),
        (["--bundle", "b", "--jwt-leeway-s", "-1"], "--jwt-leeway-s must be between 0 and 300"),
        (["--bundle", "b", "--jwt-leeway-s", "301"], "--jwt-leeway-s must be between 0 and 300"),
        (["--bundle", "b", "--jwt-leeway-s", "nan"], "--jwt-leeway-s must be between 0 and 300"),
        (["--bundle", "b", "--rate-store", "http://h:6379"], "--rate-store must be redis://"),
        (["--bundle", "b", "--rate-store", "redis:///0"], "--rate-store must be redis://"),
        (["--bundle", "b", "--rate-store", "redis://h:99999/0"], "--rate-store must be redis://"),
        (["--bundle", "b", "--rate-store", "redis://h:abc/0"], "--rate-store must be redis://"),
        (["--bundle", "b", "--rate-store", "redis://h:6379/x"], "database must be a number"),
        (["--bundle", "b", "--rate-store-fail-open"], "--rate-store-fail-open needs --rate-store"),
    ],
)
def test_bad_flags_are_usage_errors(
    secret: Path, extra: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GREENLANG_TOKEN", raising=False)
    with pytest.raises(CliError) as caught:
        build_sidecar(build_parser().parse_args(args(secret, *extra)))
    assert caught.value.code == 2
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_authentication_is_required(tmp_path: Path) -> None:
    parsed = build_parser().parse_args(["--agent-id", "gl-x", "--upstream", "http://h:1"])
    with pytest.raises(CliError, match="--jwt-secret-file or --jwks-url"):
        build_sidecar(parsed)
    short = tmp_path / "short"
    short.write_text("too short")
    parsed = build_parser().parse_args(args(short, "--bundle", str(short)))
    with pytest.raises(CliError, match="--jwt-secret-file"):
        build_sidecar(parsed)


@pytest.mark.parametrize(("extra", "leeway"), [([], 5.0), (["--jwt-leeway-s", "0"], 0.0)])
def test_jwt_leeway_is_a_flag(secret: Path, extra: list[str], leeway: float) -> None:
    parsed = build_parser().parse_args(args(secret, "--engine", "http://127.0.0.1:9", *extra))
    assert build_sidecar(parsed).authenticator.leeway_s == leeway  # type: ignore[attr-defined]


def test_bad_agent_id(secret: Path) -> None:
    parsed = build_parser().parse_args(args(secret, "--bundle", "b"))
    parsed.agent_id = "Bad_Id"
    with pytest.raises(CliError, match="--agent-id"):
        build_sidecar(parsed)


def run_sidecar(secret: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sidecar.cli", *args(secret, *extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_broken_bundle_file_exits_2_with_one_line(secret: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a bundle")
    listen, admin = free_port(), free_port()
    proc = run_sidecar(
        secret,
        "--bundle",
        str(broken),
        "--listen",
        f"127.0.0.1:{listen}",
        "--admin-listen",
        f"127.0.0.1:{admin}",
        "--log-level",
        "error",
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "broken.tar.gz" in lines[0]


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
def test_starts_ready_and_stops_on_sigterm(secret: Path, tmp_path: Path, loop: str) -> None:
    bundle = tmp_path / "b.tar.gz"
    bundle.write_bytes(assemble(compile_policies([STOCK_POLICY_DIR]), signing=signing()).content)
    listen, admin = free_port(), free_port()
    proc = run_sidecar(
        secret,
        "--bundle",
        str(bundle),
        "--listen",
        f"127.0.0.1:{listen}",
        "--admin-listen",
        f"127.0.0.1:{admin}",
        "--environment",
        "development",
        "--event-loop",
        loop,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert sigterm_exit_code(proc) == 0
        out, _ = proc.communicate(timeout=30)
        started = [json.loads(line) for line in out.splitlines() if "sidecar_started" in line]
        expected = "uvloop" if loop == "auto" and uvloop_available() else "asyncio"
        assert [s["event_loop"] for s in started] == [expected]
    finally:
        reap(proc)


def test_production_refuses_to_load_unsigned_bundles(secret: Path, tmp_path: Path) -> None:
    """One line, exit 2, from the real command; only an explicit flag lets it through."""
    bundle = tmp_path / "b.tar.gz"
    bundle.write_bytes(assemble(compile_policies([STOCK_POLICY_DIR])).content)
    unsigned = [
        "--agent-id", "gl-x", "--upstream", "http://127.0.0.1:9",
        "--jwt-secret-file", str(secret), "--bundle", str(bundle),
    ]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar.cli", *unsigned, "--environment", "production"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "--verification-key" in lines[0] and "--allow-unsigned-bundles" in lines[0]
    build_sidecar(build_parser().parse_args([*unsigned, "--allow-unsigned-bundles"]))
    build_sidecar(build_parser().parse_args([*unsigned, "--environment", "staging"]))
    with pytest.raises(CliError, match="give OPA the key") as caught:
        opa = ["--engine", "http://127.0.0.1:9", "--verification-key", str(secret)]
        build_sidecar(build_parser().parse_args([*unsigned[:6], *opa]))
    assert caught.value.code == 2
