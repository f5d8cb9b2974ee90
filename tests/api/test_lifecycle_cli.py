"""`greenlang-lifecycle` as a user runs it: a subprocess against a real registry API. Exit 3 on a
policy refusal (naming the policies and the deployment to approve), 2 on bad input, 1 when the
deployment fails; promote waits for ready and prints the endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from registry.lifecycle.models import DeploymentStatus, Instance, Observation
from tests.api.conftest import Api
from tests.api.lifecycle_support import AGENT_ID, certify, register, with_stock_policies
from tests.api.test_cli import client_env
from tests.support.polling import wait_until


async def lifecycle(api: Api, *args: str, who: str = "publisher") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "registry.cli.lifecycle",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **client_env(api, who)},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def observe(api: Api, status: DeploymentStatus, message: str = "") -> str:
    """Play the controller: report the only progressing deployment as `status`."""

    async def progressing() -> Any:
        found = await api.service.store.deployments.list(status=DeploymentStatus.PROGRESSING)
        return found[0] if found else None

    d = await wait_until(progressing, limit=60, what="a progressing deployment")
    url = "http://127.0.0.1:9999" if status is DeploymentStatus.READY else None
    seen = Observation(
        status=status,
        instances=[Instance(name="i-0", ready=url is not None, endpoint=url)],
        endpoint=url,
        message=message,
    )
    await api.service.store.deployments.record_observation(d.deployment_id, seen, datetime.now(UTC))
    return d.deployment_id


async def test_denied_promote_exits_3_then_approve_and_wait_for_ready(api: Api) -> None:
    await with_stock_policies(api)
    await register(api)
    code, _, err = await lifecycle(api, "promote", AGENT_ID, "1.0.0", "--no-wait")
    assert code == 3, err
    assert "deployment-approval" in err and "deployment-production-certified" in err
    assert "greenlang-lifecycle approve dep-" in err
    dep = err.split("greenlang-lifecycle approve ")[1].split()[0]
    await certify(api)
    code, out, err = await lifecycle(api, "approve", dep, "--comment", "ok", who="approver")
    assert code == 0, err
    assert "progressing" in out
    promote = asyncio.create_task(
        lifecycle(api, "promote", AGENT_ID, "1.0.0", "--json", "--timeout", "60")
    )
    await observe(api, DeploymentStatus.READY)
    code, out, err = await promote
    assert code == 0, err
    doc = json.loads(out)
    assert doc == {
        "deployment_id": dep,
        "agent_id": AGENT_ID,
        "version": "1.0.0",
        "environment": "production",
        "status": "ready",
        "endpoint": "http://127.0.0.1:9999",
    }
    code, out, _ = await lifecycle(api, "status", AGENT_ID)
    assert code == 0 and dep in out and "1 live deployment" in out
    code, out, _ = await lifecycle(api, "deployments", AGENT_ID, "--json")
    assert code == 0 and [d["deployment_id"] for d in json.loads(out)] == [dep]


async def test_a_failed_deployment_exits_1_with_its_reason(api: Api) -> None:
    await register(api)
    promote = asyncio.create_task(
        lifecycle(api, "promote", AGENT_ID, "1.0.0", "--environment", "staging")
    )
    await observe(api, DeploymentStatus.FAILED, "agent exited with status 1")
    code, _, err = await promote
    assert code == 1
    assert "failed: agent exited with status 1" in err


async def test_bad_input_exits_2_on_one_line(api: Api) -> None:
    await register(api)
    cases = [
        ("promote", AGENT_ID, "1.0.0", "--replicas", "0"),
        ("promote", AGENT_ID, "not-a-version"),
        ("deprecate", AGENT_ID, "1.0.0", "--sunset", "soon"),
        ("deprecate", AGENT_ID, "1.0.0", "--sunset", "2000-01-01"),
        ("retire", AGENT_ID, "9.9.9"),
        ("rollback", AGENT_ID, "--to", "1.0.0", "--reason", "x"),
        ("approve", "dep-000000000000"),
    ]
    for args in cases:
        code, out, err = await lifecycle(api, *args)
        assert code == 2, (args, out, err)
        assert err.startswith("error: ") and err.count("\n") == 1, (args, err)
    code, _, err = await lifecycle(api, "promote")  # argparse usage error
    assert code == 2


async def test_deprecate_retire_undeploy(api: Api) -> None:
    await register(api)
    code, out, err = await lifecycle(
        api, "promote", AGENT_ID, "1.0.0", "--environment", "staging", "--no-wait", "--json"
    )
    assert code == 0, err
    dep = json.loads(out)["deployment_id"]
    code, _, err = await lifecycle(api, "deprecate", AGENT_ID, "1.0.0", "--sunset", "2099-01-01")
    assert code == 2 and "only an active one" in err  # a draft cannot be deprecated
    code, _, err = await lifecycle(api, "retire", AGENT_ID, "1.0.0")
    assert code == 2 and dep in err
    code, out, err = await lifecycle(api, "undeploy", dep, "--reason", "done")
    assert code == 0 and "stopping" in out, err
    code, out, err = await lifecycle(api, "retire", AGENT_ID, "1.0.0", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "retired"


async def test_subscribe_prints_the_secret_once_and_unsubscribe_deletes(api: Api) -> None:
    await register(api)
    url = "https://hooks.example/hook"
    code, out, err = await lifecycle(
        api, "subscribe", "--agent", AGENT_ID, "--url", url, "--event", "version.deprecated"
    )
    assert code == 0, err
    sid, scope = out.splitlines()[0].split("  ")[:2]
    assert scope == f"agent {AGENT_ID} -> {url}"
    secret = out.split("secret: ")[1].split()[0]
    assert len(secret) >= 32
    r = await api.call("GET", f"/api/v1/subscriptions/{sid}", "publisher")
    stored = await r.json()
    assert stored["events"] == ["version.deprecated"] and "secret" not in stored
    code, out, err = await lifecycle(
        api, "subscribe", "--team", "cbam-team", "--url", url, "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["team"] == "cbam-team" and doc["events"] == ["*"] and doc["secret"]
    code, _, err = await lifecycle(api, "subscribe", "--agent", AGENT_ID, "--url", "ftp://x")
    assert code == 2 and err.startswith("error: 422"), err
    code, _, err = await lifecycle(api, "subscribe", "--url", url)  # neither --agent nor --team
    assert code == 2
    code, out, err = await lifecycle(api, "unsubscribe", sid)
    assert code == 0 and out == f"{sid} deleted\n", err
    code, _, err = await lifecycle(api, "unsubscribe", sid)
    assert code == 2 and "does not exist" in err
