"""A Deployment's rollout status read as a Phase (the rule ``kubectl rollout status`` uses)."""

from __future__ import annotations

from typing import Any

from registry.deployments.deployer import Phase
from registry.deployments.k8s_status import rollout_state

URL = "http://agent.ns.svc:8080"


def deployment(desired: int = 2, generation: int = 1, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "agent", "generation": generation},
        "spec": {"replicas": desired},
        "status": {"observedGeneration": generation, **status},
    }


def pod(name: str, ready: bool = True, waiting: str | None = None, restarts: int = 0) -> Any:
    state = {"waiting": {"reason": waiting, "message": "back-off"}} if waiting else {"running": {}}
    container = {"name": "agent", "ready": ready, "restartCount": restarts, "state": state}
    return {
        "metadata": {"name": name},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [container],
        },
    }


def test_no_deployment_is_absent() -> None:
    assert rollout_state("d", None, [], "").phase is Phase.ABSENT


def test_a_complete_rollout_is_ready_and_every_pod_has_the_service_endpoint() -> None:
    d = deployment(replicas=2, updatedReplicas=2, availableReplicas=2, readyReplicas=2)
    state = rollout_state("d", d, [pod("a"), pod("b")], URL)
    assert state.phase is Phase.READY
    assert [i.endpoint for i in state.instances] == [URL, URL]


def test_a_generation_not_yet_observed_is_progressing() -> None:
    d = deployment(replicas=2, updatedReplicas=2, availableReplicas=2)
    d["metadata"]["generation"] = 2
    assert rollout_state("d", d, [pod("a"), pod("b")], URL).phase is Phase.PROGRESSING


def test_old_replicas_left_over_is_progressing() -> None:
    d = deployment(desired=1, replicas=2, updatedReplicas=1, availableReplicas=2)
    assert rollout_state("d", d, [pod("a"), pod("b")], URL).phase is Phase.PROGRESSING


def test_pods_being_deleted_are_not_instances() -> None:
    gone = pod("b")
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    d = deployment(desired=1, replicas=1, updatedReplicas=1, availableReplicas=1)
    assert [i.name for i in rollout_state("d", d, [pod("a"), gone], URL).instances] == ["a"]


def test_crash_looping_with_none_available_is_failed_with_the_reason() -> None:
    d = deployment(desired=1, replicas=1, updatedReplicas=1, availableReplicas=0)
    state = rollout_state(
        "d", d, [pod("a", ready=False, waiting="CrashLoopBackOff", restarts=4)], URL
    )
    assert state.phase is Phase.FAILED
    assert state.instances[0].restarts == 4
    assert "CrashLoopBackOff" in state.instances[0].detail
    assert state.instances[0].endpoint is None


def test_crash_looping_beside_a_serving_pod_is_degraded() -> None:
    d = deployment(desired=2, replicas=2, updatedReplicas=2, availableReplicas=1)
    pods = [pod("a"), pod("b", ready=False, waiting="ImagePullBackOff")]
    assert rollout_state("d", d, pods, URL).phase is Phase.DEGRADED


def test_progress_deadline_exceeded_is_failed() -> None:
    d = deployment(desired=1, replicas=1, updatedReplicas=1, availableReplicas=0)
    d["status"]["conditions"] = [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    ]
    assert rollout_state("d", d, [pod("a", ready=False)], URL).phase is Phase.FAILED


def test_starting_pods_are_progressing() -> None:
    d = deployment(desired=1, replicas=1, updatedReplicas=1, availableReplicas=0)
    state = rollout_state("d", d, [pod("a", ready=False)], URL)
    assert state.phase is Phase.PROGRESSING
    assert state.instances[0].detail == "agent: not ready"
