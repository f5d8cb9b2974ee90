"""GREENLANG_SIDECAR_ENGINE: which deployments' sidecars ask an OPA instead of the embedded
engine, and the sidecar command line that follows."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.config import RegistryConfig
from registry.deployments.deployer import DeploymentSpec, SidecarConfig
from registry.deployments.sidecar_args import sidecar_argv
from registry.deployments.sidecar_engine import engine_for, parse_engines


def test_unset_or_embedded_means_embedded_everywhere() -> None:
    for text in ("", "  ", "embedded"):
        assert engine_for(parse_engines(text), "production") == "embedded"


def test_one_url_applies_to_every_environment() -> None:
    engines = parse_engines("http://127.0.0.1:8181/")
    assert engine_for(engines, "production") == "http://127.0.0.1:8181"
    assert engine_for(engines, "staging") == "http://127.0.0.1:8181"


def test_pairs_name_environments_and_the_rest_stay_embedded() -> None:
    engines = parse_engines("staging=http://opa-s:8181, production=embedded")
    assert engine_for(engines, "staging") == "http://opa-s:8181"
    assert engine_for(engines, "production") == "embedded"
    assert engine_for(engines, "dev") == "embedded"


@pytest.mark.parametrize("text", ["opa:8181", "staging=", "=http://x", "staging=ftp://x"])
def test_bad_values_are_refused_by_the_config(text: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="GREENLANG_SIDECAR_ENGINE"):
        RegistryConfig.load(tmp_path, env={"GREENLANG_SIDECAR_ENGINE": text})


def test_an_opa_engine_reaches_the_sidecar_command_line(tmp_path: Path) -> None:
    config = RegistryConfig.load(tmp_path, env={"GREENLANG_SIDECAR_ENGINE": "http://o:8181"})
    engine = engine_for(config.sidecar_engines, "production")
    cfg = SidecarConfig("http://r:8700", "tok", "production", engine=engine)
    spec = DeploymentSpec("d1", "a", "1.0.0", "production", 1, tmp_path / "a.py", cfg)
    argv = sidecar_argv(spec, upstream="http://u", listen="l", admin_listen="m")
    assert argv[argv.index("--engine") + 1] == "http://o:8181"
    assert "--bundle" not in argv
