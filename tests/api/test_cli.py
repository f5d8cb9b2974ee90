"""`greenlang-registry` as a user runs it: a subprocess against a real database and API."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import yaml

from registry.auth.tokens import hash_token
from tests.api.conftest import Api, make_spec


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "registry.cli.main",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def client_env(api: Api, who: str = "admin") -> dict[str, str]:
    return {
        "GREENLANG_REGISTRY_URL": str(api.client.make_url("/")).rstrip("/"),
        "GREENLANG_TOKEN": api.tokens[who],
    }


async def test_token_create_prints_token_last_and_stores_hash(api: Api, database_url: str) -> None:
    code, out, _ = await cli(
        "token",
        "create",
        "--role",
        "publisher",
        "--team",
        "cbam-team",
        "--name",
        "ci-bot",
        env={"GREENLANG_DATABASE_URL": database_url},
    )
    assert code == 0
    token = out.strip().splitlines()[-1]
    row = await api.pool.fetchrow("SELECT * FROM api_tokens WHERE name = 'ci-bot'")
    assert row["token_hash"] == hash_token(token) and row["role"] == "publisher"
    r = await api.client.post(
        "/api/v1/agents", json={"spec": make_spec()}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status == 201


async def test_token_create_bad_input_exits_2(database_url: str) -> None:
    env = {"GREENLANG_DATABASE_URL": database_url}
    code, _, err = await cli("token", "create", "--role", "emperor", env=env)
    assert code == 2 and "invalid choice" in err
    code, _, err = await cli("token", "create", "--role", "publisher", env=env)
    assert code == 2 and err.strip() == "error: a publisher token needs --team"


async def test_audit_verify(api: Api, database_url: str) -> None:
    await api.register(make_spec())
    env = {"GREENLANG_DATABASE_URL": database_url}
    code, out, _ = await cli("audit", "verify", env=env)
    total = await api.pool.fetchval("SELECT count(*) FROM audit_events")
    assert code == 0 and f"{total} events verified" in out
    await api.pool.execute("UPDATE audit_events SET actor = 'mallory'")
    code, out, _ = await cli("audit", "verify", env=env)
    assert code == 1 and "BROKEN" in out


async def test_agent_register_get_search_list(api: Api, tmp_path: Path) -> None:
    spec_file = tmp_path / "agent.yaml"
    spec_file.write_text(yaml.safe_dump(make_spec()))
    artifact = tmp_path / "artifact.py"
    artifact.write_text("def run(inputs):\n    return {}\n")
    env = client_env(api, "publisher")
    code, out, err = await cli(
        "agent", "register", str(spec_file), "--artifact", str(artifact), env=env
    )
    assert code == 0, err
    assert "gl-cbam-calculator" in out and "draft" in out

    code, out, _ = await cli("agent", "get", "gl-cbam-calculator", "--output", "json", env=env)
    assert code == 0 and json.loads(out)["current_version"] == "1.0.0"
    code, out, _ = await cli("agent", "get", "gl-cbam-calculator", "--version", "1.0.0", env=env)
    assert code == 0 and json.loads(out)["version"] == "1.0.0"
    code, out, _ = await cli(
        "agent", "search", "calculatr", "--scope", "CBAM", "--output", "json", env=env
    )
    assert code == 0 and json.loads(out)["total"] == 1
    code, out, _ = await cli("agent", "search", "cbam", "--status", "active", env=env)
    assert code == 0 and "0 of 0" in out
    code, out, _ = await cli("agent", "list", "--team", "cbam-team", env=env)
    assert code == 0 and "gl-cbam-calculator" in out and "1 of 1" in out


async def test_agent_errors_are_one_line_with_exit_codes(api: Api, tmp_path: Path) -> None:
    env = client_env(api)
    code, _, err = await cli("agent", "get", "no-such-agent", env=env)
    assert code == 2 and err.count("\n") == 1 and "404" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent_id: [")
    code, _, err = await cli("agent", "register", str(bad), env=env)
    assert code == 2 and err.startswith("error: 422") and err.count("\n") == 1
    code, _, err = await cli("agent", "register", str(tmp_path / "missing.yaml"), env=env)
    assert code == 2 and "cannot read spec" in err
    code, _, err = await cli("agent", "list", env={**env, "GREENLANG_TOKEN": ""})
    assert code == 2 and "GREENLANG_TOKEN" in err
    code, _, err = await cli("agent", "list", env={**env, "GREENLANG_TOKEN": "wrong"})
    assert code == 2 and "401" in err
    code, _, err = await cli(
        "agent", "list", env={**env, "GREENLANG_REGISTRY_URL": "http://127.0.0.1:9"}
    )
    assert code == 1 and "cannot reach" in err
    code, _, err = await cli("agent", "search", env=env)
    assert code == 2 and "usage" in err


async def test_token_list_revoke_and_audit(api: Api, database_url: str) -> None:
    env = {"GREENLANG_DATABASE_URL": database_url}
    code, out, _ = await cli("token", "create", "--role", "viewer", "--name", "temp", env=env)
    token = out.strip().splitlines()[-1]
    token_id = await api.pool.fetchval("SELECT token_id FROM api_tokens WHERE name = 'temp'")
    code, out, _ = await cli("token", "list", env=env)
    assert code == 0 and token_id in out and token not in out
    code, out, _ = await cli("token", "revoke", token_id, env=env)
    assert code == 0
    code, _, err = await cli("token", "revoke", token_id, env=env)
    assert code == 2 and "no live token" in err
    row = await api.pool.fetchrow("SELECT revoked_at FROM api_tokens WHERE token_id = $1", token_id)
    assert row["revoked_at"] is not None
    actions = [
        r["action"]
        for r in await api.pool.fetch(
            "SELECT action FROM audit_events WHERE target = $1 ORDER BY seq", f"token:{token_id}"
        )
    ]
    assert actions == ["token.create", "token.revoke"]
    # Never used before revocation, so not cached: the running API refuses it at once.
    r = await api.client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 401
