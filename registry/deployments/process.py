"""The ``process`` deployer: every replica is two local processes, the agent (the agent host
over the artifact, or the spec's own command) on a free loopback port and ``greenlang-sidecar``
in front of it; the instance's endpoint is the sidecar's listen URL.

``apply`` starts what is missing, restarts a crash with ``RestartPolicy``'s backoff (the first
restart at once, then 1 s, 2 s, ... up to ``backoff_max_s``), stops extra replicas and replaces
instances started from a different spec; it never waits for readiness. An instance fails for
good (phase FAILED when all do, never restarted again) when a process exits with code 2 (the
agent host's and the sidecar's "cannot serve this": an artifact that does not import, bad
flags) or after ``max_failures`` crashes in a row. Processes run in their own sessions and
outlive the controller; their pids, start times and ports are in the state dir
(process_state.py), so a new deployer over the same dir adopts them.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import aiohttp

from registry.deployments import process_launch as cmd
from registry.deployments.deployer import (
    DeploymentSpec,
    DeploymentState,
    InstanceState,
    Phase,
    RestartPolicy,
)
from registry.deployments.process_state import (
    ROLES,
    DeploymentDir,
    Desired,
    InstanceRecord,
    deployment_ids,
)
from registry.deployments.processes import (
    CHILDREN,
    ProcessRecord,
    exit_description,
    free_port,
    is_running,
    launch,
    log_tail,
    terminate,
)

PERMANENT_EXIT = 2


class ProcessDeployer:
    name = "process"

    def __init__(
        self,
        state_dir: Path,
        *,
        grace_s: float = 10.0,
        restarts: RestartPolicy | None = None,
        probe_timeout_s: float = 2.0,
    ) -> None:
        self.state_dir = state_dir
        self.grace_s = grace_s
        self.policy = restarts or RestartPolicy()
        self._probe_timeout = aiohttp.ClientTimeout(total=probe_timeout_s)
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._http: aiohttp.ClientSession | None = None

    async def apply(self, spec: DeploymentSpec) -> DeploymentState:
        cmd.check(spec)
        store = DeploymentDir(self.state_dir, spec.deployment_id)
        async with self._locks[spec.deployment_id]:
            sha = cmd.file_sha256(spec.artifact)
            plan = _Plan(
                spec, store.install_artifact(spec.artifact, sha), cmd.fingerprint(spec, sha)
            )
            store.save_desired(Desired(spec.replicas, spec.runtime.health_path, plan.fingerprint))
            records = store.instances()
            for index, rec in sorted(records.items()):
                if index >= spec.replicas or rec.fingerprint != plan.fingerprint:
                    await self._stop(rec)
                    store.delete_instance(rec)
                    del records[index]
            for index in range(spec.replicas):
                rec = records.get(index) or self._new_instance(store, plan, index)
                self._heal(store, plan, rec)
                store.save(rec)
        return await self.observe(spec.deployment_id)

    async def observe(self, deployment_id: str) -> DeploymentState:
        store = DeploymentDir(self.state_dir, deployment_id)
        desired = store.desired()
        records = store.instances()
        if desired is None or not records:
            return DeploymentState(deployment_id, Phase.ABSENT)
        states = await asyncio.gather(
            *(self._observe_instance(store, r, desired) for _, r in sorted(records.items()))
        )
        return _summary(deployment_id, desired.replicas, states, records)

    async def remove(self, deployment_id: str) -> None:
        store = DeploymentDir(self.state_dir, deployment_id)
        async with self._locks[deployment_id]:
            if not store.exists():
                return
            await asyncio.gather(*(self._stop(r) for r in store.instances().values()))
            store.delete()

    async def deployed(self) -> list[str]:
        return deployment_ids(self.state_dir)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    # --- starting and healing ------------------------------------------------------------

    def _new_instance(self, store: DeploymentDir, plan: _Plan, index: int) -> InstanceRecord:
        name = f"{plan.spec.deployment_id}-{index}"
        ports = {"agent": free_port(), "listen": free_port(), "admin": free_port()}
        rec = InstanceRecord(name, index, plan.fingerprint, ports, {r: None for r in ROLES})
        store.instance_dir(name).mkdir(parents=True, exist_ok=True)
        for role in ROLES:
            rec.processes[role] = self._launch(store, plan, rec, role)
        return rec

    def _launch(
        self, store: DeploymentDir, plan: _Plan, rec: InstanceRecord, role: str
    ) -> ProcessRecord:
        directory = store.instance_dir(rec.name)
        if role == "agent":
            port = rec.ports["agent"]
            argv = cmd.agent_argv(plan.spec, plan.artifact, port)
            env = cmd.agent_env(plan.spec, port)
        else:
            argv = cmd.sidecar_argv(plan.spec, rec.name, rec.ports, directory / "spool")
            env = cmd.sidecar_env(plan.spec.sidecar)
        return launch(argv, env=env, cwd=directory, log_path=directory / f"{role}.log")

    def _heal(self, store: DeploymentDir, plan: _Plan, rec: InstanceRecord) -> None:
        """Notice exits, then restart what is due; a permanent failure is left alone."""
        if rec.failed:
            return
        now = time.time()
        ended = [r for r in ROLES if r not in rec.exited and not self._running(rec, r)]
        if not ended and not rec.exited and self._stable(rec, now):
            rec.failures = 0
        if ended:
            rec.failures += 1
            for role in ended:
                self._record_exit(store, rec, role)
            rec.retry_at = now + self.policy.delay(rec.failures)
        if rec.failed or not rec.exited or now < rec.retry_at:
            return
        for role in list(rec.exited):
            rec.processes[role] = self._launch(store, plan, rec, role)
            rec.restarts += 1
            del rec.exited[role]

    def _record_exit(self, store: DeploymentDir, rec: InstanceRecord, role: str) -> None:
        proc = rec.processes.get(role)
        code, how = exit_description(proc) if proc else (None, "not started")
        if proc is not None:
            CHILDREN.forget(proc.pid)
        last = log_tail(store.instance_dir(rec.name) / f"{role}.log")
        why = f"{role} {how}" + (f": {last}" if last and code != -9 else "")
        rec.exited[role] = why
        if code == PERMANENT_EXIT:
            rec.failed = why
        elif rec.failures > self.policy.max_failures:
            rec.failed = f"{why} ({rec.failures} failures in a row)"

    @staticmethod
    def _running(rec: InstanceRecord, role: str) -> bool:
        proc = rec.processes.get(role)
        return proc is not None and is_running(proc)

    def _stable(self, rec: InstanceRecord, now: float) -> bool:
        """Both processes up long enough that the next crash starts the backoff afresh."""
        started = [p.started_at for p in rec.processes.values() if p is not None]
        return bool(started) and now - max(started) >= self.policy.stable_after_s

    async def _stop(self, rec: InstanceRecord) -> None:
        for role in ("sidecar", "agent"):  # callers first lose the door, then the agent
            proc = rec.processes.get(role)
            if proc is not None:
                await terminate(proc, self.grace_s)

    # --- observing -----------------------------------------------------------------------

    async def _observe_instance(
        self, store: DeploymentDir, rec: InstanceRecord, desired: Desired
    ) -> InstanceState:
        running = {
            r: p is not None and r not in rec.exited and is_running(p)
            for r, p in rec.processes.items()
        }
        endpoint = f"http://{cmd.LOOPBACK}:{rec.ports['listen']}" if running["sidecar"] else None
        detail = rec.failed or self._down_detail(store, rec, running)
        if not detail:
            detail = await self._probe(rec, desired.health_path)
        return InstanceState(rec.name, not detail, endpoint, rec.restarts, detail)

    def _down_detail(
        self, store: DeploymentDir, rec: InstanceRecord, running: dict[str, bool]
    ) -> str:
        down = [rec.exited.get(r) or f"{r} is not running" for r, up in running.items() if not up]
        if not down:
            return ""
        wait = rec.retry_at - time.time()
        later = f"restarting in {wait:.0f} s" if wait > 0.5 else "restarting on the next apply"
        return "; ".join(down) + f" ({later}, {rec.restarts} restarts so far)"

    async def _probe(self, rec: InstanceRecord, health_path: str) -> str:
        agent = f"http://{cmd.LOOPBACK}:{rec.ports['agent']}{health_path}"
        sidecar = f"http://{cmd.LOOPBACK}:{rec.ports['admin']}/readyz"
        results = await asyncio.gather(self._get(agent), self._get(sidecar))
        failed = [f"{who} {why}" for who, why in zip(ROLES, results, strict=True) if why]
        return "; ".join(failed)

    async def _get(self, url: str) -> str:
        """'' when ``url`` answers 200, else why not."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._probe_timeout)
        try:
            async with self._http.get(url) as resp:
                return "" if resp.status == 200 else f"not ready: {url} answered {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"not ready: {url}: {type(exc).__name__}"


class _Plan:
    """What starts this spec's processes: the spec, its installed artifact, its fingerprint."""

    def __init__(self, spec: DeploymentSpec, artifact: Path, fingerprint: str) -> None:
        self.spec, self.artifact, self.fingerprint = spec, artifact, fingerprint


def _summary(
    deployment_id: str,
    replicas: int,
    states: list[InstanceState],
    records: dict[int, InstanceRecord],
) -> DeploymentState:
    ready = sum(s.ready for s in states)
    failed = [r for r in records.values() if r.failed]
    if failed and len(failed) == len(records):
        phase, message = Phase.FAILED, failed[0].failed
    elif ready == replicas == len(states):
        phase, message = Phase.READY, f"{ready}/{replicas} ready"
    elif ready and any(r.exited or r.failed for r in records.values()):
        phase, message = Phase.DEGRADED, f"{ready}/{replicas} ready"
    else:
        phase, message = Phase.PROGRESSING, f"{ready}/{replicas} ready"
    return DeploymentState(deployment_id, phase, tuple(states), message)
