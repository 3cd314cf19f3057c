"""`infra/__main__.py` as Pulumi runs it (runpy, config from the engine), under Pulumi's mocks.

The Pulumi CLI and engine cannot run here; the mocks stand in for the engine and config is injected the way
the language host sets it. The program file itself runs unmodified.
"""

from __future__ import annotations

import runpy
import shutil

import pulumi
import pytest
from pulumi.runtime import config as pulumi_config

from infra.config import ConfigError
from infra.preflight import preflight
from infra.render import RecordingMocks
from infra.schema import REPO_ROOT
from tests.infra.conftest import config_for

MAIN = REPO_ROOT / "infra" / "__main__.py"


def _run_main(config: dict[str, str]) -> RecordingMocks:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="mlops-platform", stack="dev", preview=False)
    pulumi_config.set_all_config({f"mlops-platform:{k}": v for k, v in config.items()})

    @pulumi.runtime.test
    def program() -> None:
        runpy.run_path(str(MAIN), run_name="__main__")

    try:
        program()
    finally:
        pulumi_config.set_all_config({})
    return mocks


def test_main_declares_the_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which  # uv really runs: it exports each image's locked requirements
    monkeypatch.setattr("shutil.which", lambda tool: real_which(tool) if tool == "uv" else f"/usr/bin/{tool}")
    mocks = _run_main({"clusterMode": "kind", "protectVolumes": "false"})
    types = {typ for typ, _ in mocks.inputs.values()}
    assert "kubernetes:apps/v1:Deployment" in types
    assert "command:local:Command" in types


def test_main_stops_on_bad_config_before_any_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda tool: f"/usr/bin/{tool}")
    with pytest.raises(ConfigError, match="mlops-platform:clusterMode: 'k3d' is not one of"):
        _run_main({"clusterMode": "k3d"})


def test_main_stops_when_a_tool_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda tool: None if tool == "kind" else "/bin/x")
    mocks = None
    with pytest.raises(ConfigError, match=r"clusterMode kind needs kind on PATH \(kind: install kind"):
        mocks = _run_main({"clusterMode": "kind"})
    assert mocks is None


def test_preflight_per_mode() -> None:
    present = {"docker"}

    def which(tool: str) -> str | None:
        return f"/usr/bin/{tool}" if tool in present else None

    preflight(config_for("existing"), which=which)  # registry given: docker only
    for mode, missing in (("kind", "kind"), ("minikube", "minikube"), ("preview", "kind")):
        with pytest.raises(ConfigError, match=f"needs {missing} on PATH"):
            preflight(config_for(mode), which=which)
    present.clear()
    with pytest.raises(ConfigError, match="needs docker, kind on PATH"):
        preflight(config_for("kind"), which=which)
