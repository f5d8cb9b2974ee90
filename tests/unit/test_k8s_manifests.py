"""The kubernetes deployer's objects, rendered without a cluster; and the shipped YAML.

deploy/kubernetes/*.yaml must equal what the renderer makes of ``example_spec``. After a change
to the renderer, regenerate them with
``GREENLANG_REGENERATE_MANIFESTS=1 python3 -m pytest tests/unit/test_k8s_manifests.py``.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from registry.deployments.deployer import Runtime
from registry.deployments.k8s_manifests import (
    MAX_ARTIFACT_BYTES,
    ArtifactTooLarge,
    KubernetesConfig,
    Manifests,
    Resources,
    render,
)
from tests.support.kube import EXAMPLE_JWT_SECRET, EXAMPLE_VERIFICATION_KEY, SHIPPED, example_spec

SHIPPED_FILES = {"secret": "secret.yaml", "config_map": "configmap.yaml",
                 "deployment": "deployment.yaml", "service": "service.yaml"}  # fmt: skip


def example_manifests() -> Manifests:
    spec = example_spec()
    return render(
        spec,
        KubernetesConfig(),
        spec.artifact.read_bytes(),
        EXAMPLE_JWT_SECRET,
        EXAMPLE_VERIFICATION_KEY,
    )


def containers(m: Manifests) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in m.deployment["spec"]["template"]["spec"]["containers"]}


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_every_object_carries_the_agent_version_and_deployment_labels() -> None:
    m = example_manifests()
    for obj in m.in_apply_order():
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "grid-intensity-monitor"
        assert labels["greenlang.dev/agent"] == "grid-intensity-monitor"
        assert labels["greenlang.dev/version"] == "0.7.0"
        assert labels["greenlang.dev/deployment"] == "dep-7f3c2a91"
        assert obj["metadata"]["name"] == "grid-intensity-monitor-dep-7f3c2a91"
    assert (
        m.deployment["spec"]["template"]["metadata"]["labels"] == m.deployment["metadata"]["labels"]
    )


def test_the_pod_runs_the_agent_host_and_a_sidecar_in_front_of_it() -> None:
    c = containers(example_manifests())
    assert c["agent"]["command"] == [
        "python3", "-m", "agent_sdk.host", "--artifact", "/agent/artifact.py",
        "--host", "127.0.0.1", "--port", "9000",
    ]  # fmt: skip
    sidecar = c["sidecar"]["command"]
    assert sidecar[0] == "greenlang-sidecar"
    assert flag(sidecar, "--upstream") == "http://127.0.0.1:9000"
    assert flag(sidecar, "--listen") == "0.0.0.0:8080"
    assert flag(sidecar, "--admin-listen") == "0.0.0.0:9901"
    assert flag(sidecar, "--agent-id") == "grid-intensity-monitor"
    assert flag(sidecar, "--agent-version") == "0.7.0"
    assert flag(sidecar, "--environment") == "production"
    assert flag(sidecar, "--jwt-secret-file") == "/etc/greenlang/secrets/jwt-secret"
    key = "bundle-verification-key"  # the registry's public bundle key, from the same Secret
    assert flag(sidecar, "--verification-key") == f"/etc/greenlang/secrets/{key}"
    m = example_manifests()
    assert base64.b64decode(m.secret["data"][key]) == EXAMPLE_VERIFICATION_KEY
    volumes = m.deployment["spec"]["template"]["spec"]["volumes"]
    items = next(v["secret"]["items"] for v in volumes if "secret" in v)
    assert {"key": key, "path": key} in items
    assert c["sidecar"]["env"][0]["valueFrom"]["secretKeyRef"]["key"] == "token"
    assert "--spool-dir" in sidecar


def test_probes_and_resources() -> None:
    c = containers(example_manifests())
    assert "/healthz" in c["agent"]["readinessProbe"]["exec"]["command"][-1]
    assert c["sidecar"]["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    for container in c.values():
        assert set(container["resources"]) == {"requests", "limits"}
        assert container["resources"]["limits"]["memory"]


def test_the_service_targets_the_sidecar_only() -> None:
    m = example_manifests()
    assert m.service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    ]
    assert m.service["spec"]["selector"] == m.deployment["spec"]["selector"]["matchLabels"]
    assert all(p["containerPort"] != 9000 for p in containers(m)["sidecar"]["ports"])
    assert "ports" not in containers(m)["agent"]


def test_the_artifact_rides_in_the_config_map_and_its_hash_rolls_the_pods() -> None:
    spec = example_spec()
    one = render(spec, KubernetesConfig(), b"def run(i):\n    return i\n")
    two = render(spec, KubernetesConfig(), b"def run(i):\n    return {}\n")
    assert one.config_map["data"]["artifact.py"] == "def run(i):\n    return i\n"
    annotations = [m.deployment["spec"]["template"]["metadata"]["annotations"] for m in (one, two)]
    assert (
        annotations[0]["greenlang.dev/artifact-sha256"]
        != annotations[1]["greenlang.dev/artifact-sha256"]
    )


def test_a_binary_artifact_is_kept_byte_for_byte() -> None:
    m = render(example_spec(), KubernetesConfig(), b"\xff\x00py")
    assert base64.b64decode(m.config_map["binaryData"]["artifact.py"]) == b"\xff\x00py"


def test_an_artifact_over_900_kib_is_refused_with_a_reason() -> None:
    with pytest.raises(ArtifactTooLarge, match="at most 921600 bytes"):
        render(example_spec(), KubernetesConfig(), b"#" * (MAX_ARTIFACT_BYTES + 1))
    render(example_spec(), KubernetesConfig(), b"#" * MAX_ARTIFACT_BYTES)


def test_a_jwks_sidecar_mounts_no_secret_file() -> None:
    spec = example_spec()
    spec = dataclasses.replace(
        spec, sidecar=dataclasses.replace(spec.sidecar, jwks_url="https://idp/jwks.json")
    )
    m = render(spec, KubernetesConfig(), b"x", None, EXAMPLE_VERIFICATION_KEY)
    assert flag(containers(m)["sidecar"]["command"], "--jwks-url") == "https://idp/jwks.json"
    assert "--jwt-secret-file" not in containers(m)["sidecar"]["command"]
    assert set(m.secret["data"]) == {"bundle-verification-key"}  # only the public bundle key
    volumes = {v["name"]: v for v in m.deployment["spec"]["template"]["spec"]["volumes"]}
    assert set(volumes) == {"artifact", "spool", "secrets"}
    assert [i["key"] for i in volumes["secrets"]["secret"]["items"]] == ["bundle-verification-key"]


def test_an_opa_sidecar_gets_no_verification_key() -> None:
    """OPA verifies the bundles it loads with its own `keys`; the sidecar loads none."""
    spec = example_spec()
    spec = dataclasses.replace(
        spec, sidecar=dataclasses.replace(spec.sidecar, engine="http://opa:8181")
    )
    m = render(spec, KubernetesConfig(), b"x", EXAMPLE_JWT_SECRET, None)
    assert "--verification-key" not in containers(m)["sidecar"]["command"]
    assert set(m.secret["data"]) == {"jwt-secret"}


def test_a_command_runtime_gets_its_port() -> None:
    spec = dataclasses.replace(
        example_spec(), runtime=Runtime(kind="command", command=("uvicorn", "--port", "{port}"))
    )
    assert containers(render(spec, KubernetesConfig(), b"x"))["agent"]["command"] == [
        "uvicorn",
        "--port",
        "9000",
    ]


def test_image_namespace_free_objects_and_config() -> None:
    cfg = KubernetesConfig(image="registry.example/greenlang-runtime:1.0")
    m = render(example_spec(), cfg, b"x")
    assert {c["image"] for c in containers(m).values()} == {cfg.image}
    assert all("namespace" not in o["metadata"] for o in m.in_apply_order())


def test_the_shipped_manifests_are_the_renderer_output() -> None:
    m = example_manifests()
    if os.environ.get("GREENLANG_REGENERATE_MANIFESTS") == "1":
        for attr, file in SHIPPED_FILES.items():
            _write_yaml(SHIPPED / file, getattr(m, attr))
    for attr, file in SHIPPED_FILES.items():
        shipped = yaml.safe_load((SHIPPED / file).read_text())
        assert shipped == getattr(m, attr), f"{file} differs from the renderer (see docstring)"


def _write_yaml(path: Path, manifest: dict[str, Any]) -> None:
    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    header = "# Rendered by registry/deployments/k8s_manifests.py; see README.md.\n"
    path.write_text(header + yaml.dump(manifest, Dumper=Dumper, sort_keys=False, width=100))


def test_a_bad_quantity_is_refused_when_configured() -> None:
    with pytest.raises(ValueError, match=r"requests.cpu: 'a lot' is not a quantity"):
        Resources({"cpu": "a lot"}, {"memory": "512Mi"})
