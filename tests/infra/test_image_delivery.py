"""How images reach the cluster: the build platform, and prebuilt images (by digest) that replace the
build, load and push entirely."""

from __future__ import annotations

import pytest

from infra.components.images import SPECS
from infra.config import PREBUILT_IMAGE_KEYS, ClusterMode, StackConfig
from infra.preflight import required_tools
from infra.render import MockedStack, platform_program, run_program, stack_config
from mlops_contract.names import Env
from tests.infra.conftest import env_of, find, pod_specs

DIGEST = "sha256:" + "ab" * 32
PREBUILT = {
    "servingImage": f"registry.example.com/mlops/mlops-serving:1.4.0@{DIGEST}",
    "trainingImage": f"registry.example.com/mlops/mlops-training@{DIGEST}",
    "mlflowImage": f"localhost:5000/mlops-mlflow:3.17.2@{DIGEST}",
    "retrainTriggerImage": f"registry.example.com/mlops/mlops-retrain-trigger@{DIGEST}",
}
EXISTING = {"clusterMode": "existing", "kubeContext": "prod-cluster", "namespace": "mlops-prod"}


def _build(overrides: dict[str, str]) -> tuple[StackConfig, MockedStack]:
    cfg = stack_config("prod", overrides)
    return cfg, run_program(cfg, platform_program)


def test_prebuilt_keys_name_every_image() -> None:
    assert set(PREBUILT_IMAGE_KEYS.values()) == {spec.name for spec in SPECS}


def test_prebuilt_images_on_an_existing_cluster_need_no_docker_and_no_command() -> None:
    cfg, stack = _build({**EXISTING, **PREBUILT})  # no imageRegistry: nothing is pushed
    assert cfg.image_registry is None
    types = {r.type for r in stack.resources}
    assert "docker:index/image:Image" not in types
    assert not any(t.startswith("command:") for t in types)
    assert required_tools(cfg) == []
    refs = {PREBUILT_IMAGE_KEYS[key]: ref for key, ref in PREBUILT.items()}
    assert stack.outputs["images"] == refs
    manifests = stack.manifests()
    images = {c["image"] for _, spec in pod_specs(manifests) for c in spec["containers"]}
    assert set(refs.values()) <= images
    containers = {
        "Deployment/serving": refs["mlops-serving"],
        "Deployment/mlflow": refs["mlops-mlflow"],
        "Job/training-bootstrap": refs["mlops-training"],
        "CronJob/training-retrain": refs["mlops-training"],
        "Deployment/retrain-trigger": refs["mlops-retrain-trigger"],
    }
    by_workload = dict(pod_specs(manifests))
    for workload, ref in containers.items():
        assert by_workload[workload]["containers"][0]["image"] == ref, workload
    # Training records the image digest as its code version.
    job = find(manifests, "Job", "training-bootstrap")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(job)[Env.GIT_COMMIT] == DIGEST


def test_prebuilt_images_on_kind_are_pulled_not_built_or_loaded() -> None:
    _, stack = _build(PREBUILT)  # dev stack: kind
    assert not [r for r in stack.resources if r.type == "docker:index/image:Image"]
    commands = [r.name for r in stack.resources if r.type == "command:local:Command"]
    assert commands == ["cluster-kind"]
    assert ClusterMode(stack.outputs["clusterMode"]) is ClusterMode.KIND


@pytest.mark.parametrize(
    ("overrides", "pushed"), [(EXISTING | {"imageRegistry": "r.example/m"}, True), ({}, False)]
)
def test_image_platform_is_passed_to_every_build(overrides: dict[str, str], pushed: bool) -> None:
    _, stack = _build({**overrides, "imagePlatform": "linux/amd64"})
    images = [r for r in stack.resources if r.type == "docker:index/image:Image"]
    assert len(images) == 4
    for image in images:
        assert image.inputs["build"]["platform"] == "linux/amd64"
        assert image.inputs["skipPush"] is not pushed


def test_no_image_platform_builds_for_the_host() -> None:
    _, stack = _build(EXISTING | {"imageRegistry": "r.example/m"})
    for image in (r for r in stack.resources if r.type == "docker:index/image:Image"):
        assert "platform" not in image.inputs["build"]
